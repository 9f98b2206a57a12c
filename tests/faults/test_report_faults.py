"""A report regenerated on a full disk (issue 11, item 6): every file is replaced whole or not at all,
and the command says where the space ran out."""

import builtins
import errno
import io
import os
from pathlib import Path

import pytest

from faultlib import invoke, spec
from ganbench import plugins, runner
from ganbench.spec import Budget


class FullDisk:
    """Files opened for writing under ``root`` share ``free`` bytes (characters, for text files): the
    write that does not fit writes what fits and raises ENOSPC, as a full disk does. Every way of
    opening a file goes through here (``open``, ``io.open``, hence ``os.fdopen``)."""

    def __init__(self, monkeypatch, root: Path, free: int):
        self.root, self.free = os.path.realpath(root), free
        real_open = io.open

        def fake_open(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            return _Limited(f, self) if set(mode) & set("wax+") and self._inside(file) else f

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)

    def _inside(self, file) -> bool:
        path = os.readlink(f"/proc/self/fd/{file}") if isinstance(file, int) else os.fspath(file)
        return os.path.realpath(path).startswith(self.root + os.sep)


class _Limited:
    def __init__(self, f, disk: FullDisk):
        self._f, self._disk = f, disk

    def write(self, data):
        if len(data) > self._disk.free:
            self._f.write(data[:self._disk.free])
            self._f.flush()
            self._disk.free = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.free -= len(data)
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two runs of two variants: tables, curves and scatter plots to write."""
    results = tmp_path_factory.mktemp("results")
    host = plugins.load()
    for loss in ("nonsaturating", "hinge"):
        runner.execute(spec(loss=loss, budget=Budget("steps", 20)), results, host=host)
    return results


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("share", [0.0, 0.2, 0.5, 0.9])
def test_a_full_disk_leaves_the_previous_report_intact(tmp_path, results, monkeypatch, capsys, share):
    out = tmp_path / "leaderboard"
    code, _, err = invoke(capsys, "report", "--results-dir", results, "--out", out)
    assert code == 0, err
    before = _files(out)
    assert any(name.endswith(".png") for name in before) and any(name.endswith(".csv") for name in before)

    FullDisk(monkeypatch, out, int(share * sum(len(data) for data in before.values())))
    code, stdout, err = invoke(capsys, "report", "--results-dir", results, "--out", out)
    monkeypatch.undo()

    assert _files(out) == before  # regenerating gives the same bytes: every file is the previous one, whole
    assert code == 4, err
    assert stdout == "" and err.count("\n") == 1
    assert err.startswith(f"ganbench: error: no space left on device: {out}{os.sep}"), err
