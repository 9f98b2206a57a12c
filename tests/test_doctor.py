"""`ganbench doctor` and the precision check that stops slow autocast before any run."""

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from ganbench import doctor
from ganbench.cli import cli
from ganbench.errors import UsageError

AVX2 = {"fpu", "sse4_2", "avx", "avx2", "fma", "f16c"}
AVX512_BF16 = AVX2 | {"avx512f", "avx512bw", "avx512_bf16"}
AMX = AVX2 | {"avx512f", "amx_tile", "amx_bf16"}
ARM = {"fp", "asimd"}
ARM_BF16 = ARM | {"bf16"}
KEYS = ("torch", "device", "cuda", "cpu", "cpu_capability", "cpu_native_bf16", "torch_threads", "cpu_count",
        "bf16", "fp16", "torch_compile", "cuda_graphs", "vectorize_seeds")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def gpu(monkeypatch):
    """A CUDA device is visible; whether it has native bf16 is set by the test."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(doctor, "_cuda_name", lambda: "Tesla T4")
    return lambda native: monkeypatch.setattr(doctor, "_cuda_native_bf16", lambda: native)


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_bf16_on_avx2_cpu_is_refused_with_one_line_saying_what_to_use(no_gpu, device):
    problem = doctor.precision_problem("bf16", device, flags=AVX2)
    assert problem and "\n" not in problem
    assert "AVX2" in problem and "20x" in problem
    assert "--precision fp32" in problem and "--force-precision" in problem


@pytest.mark.parametrize("flags", [AVX512_BF16, AMX, ARM_BF16])
def test_bf16_on_a_cpu_with_native_bf16_is_fine(no_gpu, flags):
    assert doctor.native_bf16_cpu(flags)
    assert doctor.precision_problem("bf16", "cpu", flags=flags) is None
    assert doctor.precision_problem("bf16", "auto", flags=flags) is None


def test_plain_avx512_and_aarch64_without_bf16_are_not_native(no_gpu):
    assert not doctor.native_bf16_cpu(AVX2 | {"avx512f", "avx512bw"})
    assert "AVX512, no AVX512_BF16/AMX" in doctor.precision_problem("bf16", "cpu", flags=AVX2 | {"avx512f"})
    assert "aarch64, no BF16" in doctor.precision_problem("bf16", "cpu", flags=ARM)


@pytest.mark.parametrize("device", ["cpu", "auto", "cuda", "mps"])
@pytest.mark.parametrize("flags", [AVX2, AMX, ARM, set()])
def test_fp32_is_always_fine(no_gpu, device, flags):
    assert doctor.precision_problem("fp32", device, flags=flags) is None


def test_fp16_on_any_cpu_is_refused_and_points_at_bf16_where_native(no_gpu):
    for flags in (AVX2, AMX):
        problem = doctor.precision_problem("fp16", "cpu", flags=flags)
        assert problem and "\n" not in problem
        assert "fp32" in problem and "--force-precision" in problem
    assert "bf16" not in doctor.precision_problem("fp16", "cpu", flags=AVX2)
    assert "--precision bf16" in doctor.precision_problem("fp16", "cpu", flags=AMX)


def test_cuda_bf16_needs_native_support_and_auto_picks_cuda(gpu):
    gpu(False)
    problem = doctor.precision_problem("bf16", "cuda", flags=AVX2)
    assert "Tesla T4" in problem and "--precision fp16 or fp32" in problem and "--force-precision" in problem
    assert doctor.precision_problem("bf16", "cuda:1", flags=AVX2) == problem
    assert doctor.precision_problem("bf16", "auto", flags=AVX2) == problem  # auto is CUDA, not the AVX2 CPU
    assert doctor.precision_problem("fp16", "cuda", flags=AVX2) is None
    gpu(True)
    assert doctor.precision_problem("bf16", "auto", flags=AVX2) is None
    # The CPU still answers for --device cpu when a GPU is present.
    assert doctor.precision_problem("bf16", "cpu", flags=AVX2) is not None


def test_check_precision_raises_usage_error_unless_forced(no_gpu, monkeypatch):
    monkeypatch.setattr(doctor, "native_bf16_cpu", lambda flags=None: False)
    with pytest.raises(UsageError, match="--force-precision"):
        doctor.check_precision("bf16", "cpu")
    assert "20x" in doctor.check_precision("bf16", "cpu", force=True)
    assert doctor.check_precision("fp32", "cpu") is None


def test_this_machines_flags_and_answers_have_the_right_types():
    flags = doctor.cpu_flags()
    assert isinstance(flags, set) and all(isinstance(f, str) and f == f.lower() for f in flags)
    assert isinstance(doctor.native_bf16_cpu(), bool)
    rows = doctor.report()
    assert all(isinstance(k, str) and isinstance(v, str) and "\t" not in v and "\n" not in v for k, v in rows)


def test_doctor_prints_key_tab_value_lines():
    result = CliRunner().invoke(cli, ["doctor"], obj={})
    assert result.exit_code == 0, result.output
    rows = dict(line.split("\t", 1) for line in result.output.splitlines())
    assert set(KEYS) <= set(rows)
    assert rows["torch"] == torch.__version__
    assert rows["cpu_native_bf16"].split()[0] in ("yes", "no")
    assert rows["torch_threads"] == str(torch.get_num_threads())


def test_doctor_json_is_one_object_with_a_schema():
    result = CliRunner().invoke(cli, ["doctor", "--json"], obj={})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema"] == 1 and set(KEYS) <= set(data)


def test_importing_the_cli_and_doctor_does_not_import_torch():
    code = "import sys, ganbench.cli, ganbench.doctor; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_run_with_bf16_on_an_avx2_cpu_exits_2_before_any_run(monkeypatch, tmp_path, capsys):
    from ganbench.cli import main
    monkeypatch.setattr(doctor, "cpu_flags", lambda: {"avx2", "fma", "sse4_2"})
    args = ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--budget", "steps=2",
            "--precision", "bf16", "--device", "cpu", "--results-dir", str(tmp_path), "--quiet"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2
    assert len(err) == 1 and "fp32" in err[0] and "--force-precision" in err[0]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "references").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(args + ["--force-precision"])
    assert exit_info.value.code == 0
    assert "warning: bf16" in capsys.readouterr().err


@pytest.mark.parametrize("device", ["cpu", "cuda:0", "mps"])
def test_every_device_gets_a_verdict_for_each_speed_option(gpu, device):
    """One row per option whatever the device, so a script reading ``doctor --json`` finds every key;
    off the CPU and CUDA, seeds never vectorise (ganbench.vectorized.unsupported says the same)."""
    gpu(True)
    verdicts = dict(doctor._verdicts(device, native_cpu_bf16=False))
    assert list(verdicts) == ["bf16", "fp16", "torch_compile", "cuda_graphs", "vectorize_seeds"]
    assert verdicts["vectorize_seeds"].startswith("no") == (device == "mps")
