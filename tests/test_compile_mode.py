"""``--compile-mode``: torch.compile's mode (``reduce-overhead`` replays CUDA graphs on a GPU) is part of
what a run is, reaches torch.compile, and is refused in one line when it names nothing.

torch.compile itself is replaced by a recorder here: compiling even the MLP takes about 50 s on a
2-core CPU, and what is under test is the harness's wiring, not inductor. The CUDA-graph path runs
only where there is a GPU (the last test)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from conftest import run_cli
from ganbench import plugins, runner, study
from ganbench.cli import cli
from ganbench.errors import UsageError
from ganbench.spec import COMPILE_MODES, Budget, RunSpec

TINY = {"batch_size": 32}


def _spec(**kw):
    base = dict(arch="mlp", loss="nonsaturating", dataset="ring8", seed=0, budget=Budget("steps", 4),
                hparams=TINY, metrics=("mode_coverage",), threads=1, compile=True)
    return RunSpec(**{**base, **kw})


def test_the_default_mode_keeps_the_name_a_compiled_run_had_before_modes_existed():
    # The hash of this spec as written by the code before compile_mode (commit d4d5132): a stored
    # compiled run must still be found, not trained again.
    old = RunSpec("mlp", "nonsaturating", "ring8", 0, Budget("steps", 5), compile=True)
    assert old.content_hash() == "a3a0b8be9d47"
    assert RunSpec.from_dict({k: v for k, v in old.to_dict().items() if k != "compile_mode"}) == old
    hashes = {_spec(compile_mode=mode).content_hash() for mode in COMPILE_MODES}
    assert len(hashes) == len(COMPILE_MODES)   # each mode is a run of its own
    graphs = _spec(compile_mode="reduce-overhead")
    assert RunSpec.from_dict(graphs.to_dict()) == graphs


def test_the_mode_reaches_torch_compile_and_the_run_records_it(tmp_path, monkeypatch):
    modes = []

    def recording_compile(module, *args, mode=None, **kwargs):
        modes.append(mode)
        return module

    monkeypatch.setattr(torch, "compile", recording_compile)
    spec = _spec(compile_mode="max-autotune-no-cudagraphs")
    result = runner.execute(spec, tmp_path, host=plugins.load())
    assert result["status"] == "completed"
    # G and D of every trainer the run builds (the step-cost measurement builds one more)
    assert modes and len(modes) % 2 == 0 and set(modes) == {"max-autotune-no-cudagraphs"}
    recorded = json.loads((tmp_path / "runs" / spec.dirname / "spec.json").read_text())["spec"]
    assert recorded["compile"] is True and recorded["compile_mode"] == "max-autotune-no-cudagraphs"


def test_a_mode_on_the_command_line_implies_compile_and_a_bad_one_is_one_line(tmp_path):
    def planned(*flags):   # in-process: a dry run trains nothing
        res = CliRunner().invoke(cli, ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8",
                                       "--seeds", "0", "--budget", "steps=4", *flags, "--dry-run",
                                       "--results-dir", str(tmp_path)])
        assert res.exit_code == 0, res.output
        return [line.split("\t")[0] for line in res.output.splitlines() if line.startswith("mlp-")]

    plain, compiled = planned(), planned("--compile")
    assert len(plain) == 1
    assert planned("--compile-mode", "default") == compiled != plain
    assert planned("--compile-mode", "reduce-overhead") not in (plain, compiled)
    bad = run_cli("run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--seeds", "0",
                  "--compile-mode", "fastest", "--results-dir", str(tmp_path))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "fastest" in bad.stderr and "reduce-overhead" in bad.stderr


@pytest.mark.parametrize("run_table, message", [
    ('compile_mode = "fastest"', "is not one of default, reduce-overhead"),
    ('compile_mode = "reduce-overhead"', "set run.compile = true"),
])
def test_a_study_files_mode_is_checked_before_any_run(run_table, message):
    text = ('[study]\nname="x"\n[matrix]\narchs=["mlp"]\nlosses=["nonsaturating"]\ndatasets=["ring8"]\n'
            f'[budget]\ndefault="steps=5"\n[run]\n{run_table}\n')
    with pytest.raises(UsageError, match=message):
        study.parse(text, "x.toml")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graphs_train_like_eager_on_a_gpu(tmp_path):
    """reduce-overhead on a GPU: the run completes, and its losses stay close to the eager run's."""
    host = plugins.load()
    graphs = runner.execute(_spec(device="cuda", compile_mode="reduce-overhead", budget=Budget("steps", 20)),
                            tmp_path / "graphs", host=host)
    eager = runner.execute(_spec(device="cuda", compile=False, budget=Budget("steps", 20)),
                           tmp_path / "eager", host=host)
    assert graphs["status"] == eager["status"] == "completed"
    assert graphs["final"]["modes"]["value"] == pytest.approx(eager["final"]["modes"]["value"], abs=2)
