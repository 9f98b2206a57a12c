"""`ganbench new-plugin` writes a package whose own tests pass straight after generation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ganbench.cli import cli
from ganbench.scaffold import KINDS, new_plugin
from ganbench.study import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pytest(python: str, cwd: Path, env_extra: dict[str, str] | None = None, *args: str):
    env = {**os.environ, **(env_extra or {})}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_command_writes_the_package(tmp_path):
    result = CliRunner().invoke(cli, ["new-plugin", "my_loss", "--kind", "loss", "--out", str(tmp_path)], obj={})
    assert result.exit_code == 0, result.output
    root = tmp_path / "ganbench-my-loss"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md", "ganbench_my_loss/__init__.py", "pyproject.toml", "tests/test_my_loss.py"]
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["ganbench"] == {"my_loss": "ganbench_my_loss"}
    assert "from ganbench.testing import LossContract" in (root / "tests/test_my_loss.py").read_text()
    plugin = (root / "ganbench_my_loss/__init__.py").read_text()
    assert '"""My loss loss (TODO' in plugin and "paper = " in plugin


def test_bad_names_and_existing_directories_are_refused(tmp_path):
    from ganbench.errors import UsageError
    with pytest.raises(UsageError, match="snake_case"):
        new_plugin("My-Loss", "loss", tmp_path)
    with pytest.raises(UsageError, match="unknown kind"):
        new_plugin("x", "optimizer", tmp_path)
    new_plugin("x", "loss", tmp_path)
    with pytest.raises(UsageError, match="not empty"):
        new_plugin("x", "loss", tmp_path)


def test_every_kind_passes_its_own_tests_uninstalled(tmp_path):
    """All six kinds in one pytest process (PYTHONPATH holds the packages; nothing is installed)."""
    roots = [new_plugin(f"my_{kind}", kind, tmp_path) for kind in KINDS]
    pythonpath = os.pathsep.join([*map(str, roots), os.environ.get("PYTHONPATH", "")])
    result = _pytest(sys.executable, tmp_path, {"PYTHONPATH": pythonpath}, "-rA", "--rootdir", str(tmp_path),
                     *(str(r / "tests") for r in roots))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for kind in KINDS:
        dist = "ganbench-my-" + kind.replace("_", "-")
        assert f"PASSED {dist}/tests/test_my_{kind}.py::TestMy" in result.stdout, kind  # collected and passing
    assert " failed" not in result.stdout.splitlines()[-1]


def test_a_generated_package_installs_and_passes_in_a_fresh_venv(tmp_path):
    """`pip install -e` into a new venv (reusing this one's packages: no network), then its own pytest."""
    root = new_plugin("venv_metric", "metric", tmp_path)
    venv = tmp_path / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                          capture_output=True, text=True)
    python = venv / "bin" / "python"
    if made.returncode != 0 or not python.exists():
        pytest.skip(f"cannot create a venv here: {made.stderr.strip()[-300:]}")
    # --system-site-packages sees the base interpreter's packages, not this venv's: put ganbench and its
    # dependencies (this venv's site-packages, with the editable ganbench, pip and setuptools) on the path
    # through a .pth. --without-pip: the venv's own bundled pip/setuptools would shadow them (and offline,
    # an old bundled setuptools cannot build an editable wheel).
    import site
    site_dirs = [p for p in site.getsitepackages() if Path(p).is_dir()]
    new_site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    # addsitedir, not a bare path line: the editable ganbench is itself a .pth in that directory.
    Path(new_site, "ganbench-parent.pth").write_text("".join(f"import site; site.addsitedir({d!r})\n"
                                                             for d in site_dirs))
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                              "--no-index", "-e", str(root)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    listed = subprocess.run([str(python), "-c", "from importlib.metadata import entry_points; "
                             "print(sorted(e.name for e in entry_points(group='ganbench')))"],
                            capture_output=True, text=True, check=True)
    assert "venv_metric" in listed.stdout
    result = _pytest(str(python), root)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout.splitlines()[-1]
