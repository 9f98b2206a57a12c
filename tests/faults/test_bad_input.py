"""Bad input is refused before any run (issue 11, items 9-12): exit 2 (4 when the machine is at fault),
one line on stderr, no traceback, and nothing written anywhere under the test's directory.

Each table row is one case tried as a new user or an adversary would; the ids name the area it
belongs to (budget, seeds, hparam, ...). Rows marked "held" were already refused before issue 11 and
stay in the table so that they keep being refused.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from faultlib import invoke

RUN = ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--budget", "steps=2",
       "--threads", "1", "--quiet"]
STUDY = """[study]
name = "fuzz"
[matrix]
archs = ["mlp"]
losses = ["nonsaturating"]
datasets = ["ring8"]
[budget]
default = "steps=2"
"""
HAS_CUDA = torch.cuda.is_available()
HAS_MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def snapshot(root: Path) -> dict[str, tuple[bool, int]]:
    """Every path under ``root`` with whether it is a directory and its size: what a refusal must not change."""
    return {str(p.relative_to(root)): (p.is_dir(), 0 if p.is_dir() else p.stat().st_size)
            for p in sorted(root.rglob("*"))}


def refused(capsys, root: Path, args: list[str], code: int, expected: str) -> str:
    """Run ``ganbench ARGS`` and check the promise: exit ``code``, one line naming the problem, no traceback,
    nothing written under ``root``. Returns the line."""
    before = snapshot(root)
    got, out, err = invoke(capsys, *args)
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert expected in lines[0], lines[0]
    assert snapshot(root) == before
    return lines[0]


# ---------------------------------------------------------------------------------------------------
# The command line: (options before `run`, options after the tiny ring run, expected text)

CLI_CASES = {
    # item 9: each of these used to store a permanent `failed` run
    "budget: flops=1e400": ([], ["--budget", "flops=1e400"], "VALUE a finite number > 0"),
    "budget: kimg=1e309": ([], ["--budget", "kimg=1e309"], "VALUE a finite number > 0"),
    "threads: 2**31": ([], ["--threads", "2147483648"], "1<=x<=1024"),
    "hparam: lr_g=abc": ([], ["--hparam", "lr_g=abc"], "--hparam lr_g=abc: lr_g must be a finite number"),
    "hparam: batch_size=0": ([], ["--hparam", "batch_size=0"], "batch_size must be a whole number >= 1"),
    "hparam: batch_size=-5": ([], ["--hparam", "batch_size=-5"], "batch_size must be a whole number >= 1"),
    "hparam: batch_size=1.5": ([], ["--hparam", "batch_size=1.5"], "batch_size must be a whole number"),
    "hparam: batch_size=true": ([], ["--hparam", "batch_size=true"], "batch_size must be a whole number"),
    "hparam: lr_d=1e999": ([], ["--hparam", "lr_d=1e999"], "lr_d must be a finite number"),
    "hparam: lr_d=NaN": ([], ["--hparam", "lr_d=NaN"], "lr_d must be a finite number"),
    "hparam: beta2=1": ([], ["--hparam", "beta2=1"], "beta2 must be a number in [0, 1)"),
    "hparam: hidden=[1]": ([], ["--hparam", "hidden=[1]"], "hidden must be a whole number"),
    # item 10: each of these used to exit 3, "internal error"
    "budget: steps=1e999": ([], ["--budget", "steps=1e999"], "VALUE a finite number > 0"),
    "budget: steps=1e300": ([], ["--budget", "steps=1e300"], "steps must be at most 1e+15"),
    "seeds: 0-99999999999": ([], ["--seeds", "0-99999999999"], "longer than 100000"),
    "seeds: 4294967296": ([], ["--seeds", "4294967296"], "at most 4294967295"),
    "results-dir: under a file": ([], ["--results-dir", "{file}/sub"], "is a file; give a directory"),
    "results-dir: /dev/null": ([], ["--results-dir", "/dev/null"], "'/dev/null' is not a directory"),
    "results-dir: empty": ([], ["--results-dir", ""], "--results-dir: empty"),
    # item 11: each of these used to be accepted silently
    "budget: empty": ([], ["--budget", ""], "invalid budget ''"),
    "seeds: empty": ([], ["--seeds", ""], "invalid seeds ''"),
    "seeds: reversed range": ([], ["--seeds", "0,5-3"], "range 5-3 is empty"),
    "budget: seconds=1e400": ([], ["--budget", "seconds=1e400"], "VALUE a finite number > 0"),
    "metric: applies to no dataset": ([], ["--metric", "lenet_fidelity"],
                                      "--metric: lenet_fidelity applies to none of the datasets (ring8: needs"),
    "metric: the ring's runs would measure nothing": ([], ["--dataset", "mnist5k", "--metric", "lenet_fidelity"],
                                                      "lenet_fidelity does not apply to mlp-nonsaturating-ring8 (needs"),
    "metric: one of two applies to none": ([], ["--metric", "mode_coverage", "--metric", "lenet_fidelity"],
                                           "lenet_fidelity applies to none of the datasets"),
    "plugins: disabled and only": (["--disable-plugin", "mlp", "--only-plugin", "mlp"], [],
                                   "plugin 'mlp' is both disabled"),
    "size: 100000 seeds": ([], ["--seeds", "0-99999"], "more than 5000 runs; give --yes"),
    "vectorize-seeds: abc": ([], ["--vectorize-seeds", "abc"], "invalid --vectorize-seeds 'abc'"),
    "ray: resources without Ray": ([], ["--cpus-per-run", "2"], "--cpus-per-run and --gpus-per-run are Ray resources"),
    "ray: cpus-per-run 0": ([], ["--executor", "ray", "--cpus-per-run", "0"], "--cpus-per-run"),
    # item 12: messages that misled
    "names: unknown loss": ([], ["--loss", "nosuch"], "unknown loss 'nosuch'; valid: dragan,"),
    "held: unknown technique": ([], ["--technique", "nosuch"], "unknown technique 'nosuch'"),
    "names: hidden by --only-plugin": (["--only-plugin", "mlp", "--only-plugin", "ring8"], [],
                                       "plugins other than mlp, ring8 are not loaded (--only-plugin"),
    # held: refused before issue 11 too
    "held: budget kimg=-1": ([], ["--budget", "kimg=-1"], "invalid budget 'kimg=-1'"),
    "held: budget minutes=3": ([], ["--budget", "minutes=3"], "invalid budget 'minutes=3'"),
    "held: budget steps=1.5": ([], ["--budget", "steps=1.5"], "steps must be a whole number"),
    "held: seeds a,b": ([], ["--seeds", "a,b"], "invalid seeds 'a,b'"),
    "held: seeds -1": ([], ["--seeds", "-1"], "invalid seeds '-1'"),
    "held: hparam without =": ([], ["--hparam", "lr_g"], "expected NAME=VALUE"),
    "held: eval-every -1": ([], ["--eval-every", "-1"], "--eval-every"),
    "held: jobs 0": ([], ["--jobs", "0"], "--jobs"),
    "held: threads 0": ([], ["--threads", "0"], "--threads"),
    "held: device tpu": ([], ["--device", "tpu"], "--device"),
    "held: unknown arch": ([], ["--arch", "nosuch"], "unknown architecture 'nosuch'"),
    "held: unknown option": ([], ["--nosuch"], "No such option"),
    "held: results-dir a file": ([], ["--results-dir", "{file}"], "is a file"),
    "held: all and study": ([], ["--all"], "cannot be combined"),
}
if not HAS_CUDA:
    CLI_CASES["device: cuda without CUDA"] = ([], ["--device", "cuda"], "--device cuda: no CUDA device here")
if not HAS_MPS:
    CLI_CASES["device: mps without MPS"] = ([], ["--device", "mps"], "--device mps: no MPS device here")
try:
    import ray  # noqa: F401
except ImportError:
    CLI_CASES["executor: ray without Ray"] = ([], ["--executor", "ray"], "--executor ray needs Ray")


@pytest.mark.parametrize("case", CLI_CASES)
def test_a_bad_command_line_is_refused_before_any_run(tmp_path, capsys, case):
    before_run, after, expected = CLI_CASES[case]
    (tmp_path / "afile").write_text("not a directory")
    after = [a.replace("{file}", str(tmp_path / "afile")) for a in after]
    args = [*before_run, *RUN, "--results-dir", str(tmp_path / "results"), *after]
    refused(capsys, tmp_path, args, 2, expected)


# ---------------------------------------------------------------------------------------------------
# Study files: (file contents, expected text); "{path}" stands for the file's own path

def _study(**replace: str) -> str:
    text = STUDY
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


STUDY_CASES = {
    # item 9
    "run: threads = 0": (STUDY + "[run]\nthreads = 0\n", "{path}: run.threads: 0 is out of range"),
    "hparam: batch_size = 'big'": (STUDY + '[hparams]\nbatch_size = "big"\n',
                                   "{path}: hparams.batch_size = 'big': batch_size must be a whole number"),
    "hparam: per-dataset lr_g = inf": (STUDY + "[hparams.ring8]\nlr_g = inf\n",
                                       "{path}: hparams.ring8.lr_g = inf: lr_g must be a finite number"),
    "hparam: z_dim = 0": (STUDY + "[hparams]\nz_dim = 0\n", "z_dim must be a whole number >= 1"),
    # item 10
    "encoding: latin-1": (_study(fuzz="caf\xe9").encode("latin-1"), "{path}: not UTF-8 text (byte 0xe9"),
    "encoding: binary": (bytes(range(256)) * 4, "{path}: a binary file"),
    "encoding: UTF-16": (STUDY.encode("utf-16"), "{path}: not UTF-8 text (UTF-16"),
    # item 11
    "run: eval_every = -1": (STUDY + "[run]\neval_every = -1\n", "run.eval_every: -1 is out of range"),
    "run: evaluations = -3": (STUDY + "[run]\nevaluations = -3\n", "run.evaluations: -3 is out of range"),
    "run: evaluations = 0": (STUDY + "[run]\nevaluations = 0\n", "run.evaluations: 0 is out of range"),
    "run: checkpoint_every = -5": (STUDY + "[run]\ncheckpoint_every = -5\n", "run.checkpoint_every: -5"),
    "run: jobs = 0": (STUDY + "[run]\njobs = 0\n", "run.jobs: 0 is out of range"),
    "run: cpus_per_run = 0": (STUDY + "[run]\ncpus_per_run = 0\n", "run.cpus_per_run: 0 is out of range"),
    "run: gpus_per_run = -0.5": (STUDY + "[run]\ngpus_per_run = -0.5\n", "run.gpus_per_run: -0.5 is out of range"),
    "run: gpus_per_run = 'half'": (STUDY + '[run]\ngpus_per_run = "half"\n', "run.gpus_per_run: expected"),
    "study: tables = ['nosuch']": (_study(**{'name = "fuzz"': 'name = "fuzz"\ntables = ["nosuch"]'}),
                                   "{path}: study.tables: unknown key; valid: name, description"),
    "study: empty name": (_study(**{'"fuzz"': '""'}), "{path}: study.name: ''"),
    "study: blank name": (_study(**{'"fuzz"': '"   "'}), "{path}: study.name: '   '"),
    "study: two-line name": (_study(**{'"fuzz"': '"a\\nb"'}), "{path}: study.name: 'a\\nb'"),
    "budget: kimg=1e309": (_study(**{"steps=2": "kimg=1e309"}), "{path}: budget.default: invalid budget"),
    "metric: applies to no dataset": (_study(**{"[budget]": 'metrics = ["lenet_fidelity"]\n[budget]'}),
                                      "{path}: matrix.metrics: lenet_fidelity applies to none of the datasets"),
    "size: 10000 seeds": (_study(**{"[budget]": 'seeds = "0-9999"\n[budget]'}), "more than 5000 runs"),
    # item 12
    "names: unknown loss": (_study(nonsaturating="losse"),
                            "{path}: matrix.losses: unknown loss 'losse'; valid: dragan,"),
    "names: unknown metric": (_study(**{"[budget]": 'metrics = ["fid_nosuch"]\n[budget]'}),
                              "{path}: matrix.metrics: unknown metric 'fid_nosuch'"),
    "names: unknown arch in the second matrix": (
        _study(**{"[matrix]": "[[matrix]]"}).replace("[budget]", '[[matrix]]\narchs = ["mlq"]\ndatasets = ["ring8"]\n'
                                                                  "[budget]"),
        "{path}: matrix[2].archs: unknown architecture 'mlq'"),
    # held
    "held: not TOML": ("[study\nname = 'x'\n", "not valid TOML"),
    "held: unknown section": (STUDY + "[nosuch]\n", "{path}: nosuch: unknown section"),
    "held: datasets not a list": (_study(**{'datasets = ["ring8"]': 'datasets = "ring8"'}),
                                  "matrix.datasets: expected list"),
    "held: device tpu": (STUDY + '[run]\ndevice = "tpu"\n', "run.device: 'tpu' is not one of"),
    "held: threads = 'two'": (STUDY + '[run]\nthreads = "two"\n', "run.threads: expected int"),
}
if not HAS_CUDA:
    STUDY_CASES["device: cuda without CUDA"] = (STUDY + '[run]\ndevice = "cuda"\n',
                                                "{path}: run.device = cuda: no CUDA device here")


@pytest.mark.parametrize("case", STUDY_CASES)
def test_a_bad_study_file_is_refused_naming_the_file_and_key(tmp_path, capsys, case):
    content, expected = STUDY_CASES[case]
    path = tmp_path / "bad.toml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    refused(capsys, tmp_path, ["run", "--study", str(path), "--results-dir", str(tmp_path / "results"), "--quiet"],
            2, expected.replace("{path}", f"study {path}"))


def test_a_directory_given_as_study_is_called_a_directory(tmp_path, capsys):
    (tmp_path / "studies.toml").mkdir()
    refused(capsys, tmp_path, ["run", "--study", str(tmp_path / "studies.toml"), "--results-dir",
                               str(tmp_path / "results")], 2, "is a directory; give a study .toml file")


# ---------------------------------------------------------------------------------------------------
# What must be accepted: the same checks must not refuse good input

def test_a_negative_exponent_is_a_budget(tmp_path, capsys):
    code, out, err = invoke(capsys, *RUN, "--budget", "kimg=5e-1", "--results-dir", tmp_path / "results",
                            "--dry-run", "--json")
    assert code == 0, err
    assert {run["budget"] for run in json.loads(out)["runs"]} == {"kimg=0.5"}


def test_a_study_with_a_byte_order_mark_is_read(tmp_path, capsys):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + STUDY.encode())
    code, out, err = invoke(capsys, "run", "--study", path, "--results-dir", tmp_path / "results", "--dry-run")
    assert code == 0, err
    assert "mlp-nonsaturating-ring8-s0-" in out


def test_dry_run_json_prints_one_json_object_and_writes_nothing(tmp_path, capsys):
    code, out, err = invoke(capsys, *RUN, "--seeds", "0-2", "--results-dir", tmp_path / "results",
                            "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["dry_run"] is True and plan["study"] == "adhoc"
    assert [r["name"] for r in plan["runs"]] == [f"mlp-nonsaturating-ring8-s{s}" for s in range(3)]
    assert all(r["dir"].startswith(str(tmp_path / "results" / "runs")) for r in plan["runs"])
    assert [r["dataset"] for r in plan["references"]] == ["ring8"]
    assert not (tmp_path / "results").exists()


def test_every_builtin_study_still_plans(tmp_path, capsys):
    from ganbench import study
    for name in study.builtin_names():
        if name == "cifar10":  # needs CUDA and the CIFAR-10 files: refused here for those, by design
            continue
        code, out, err = invoke(capsys, "run", "--study", name, "--results-dir", tmp_path / "results", "--dry-run",
                                "--json")
        assert code == 0, f"{name}: {err}"
        assert json.loads(out)["runs"]


def test_yes_lifts_the_size_limit(tmp_path, capsys, monkeypatch):
    from ganbench import cli
    monkeypatch.setattr(cli, "MAX_RUNS_WITHOUT_YES", 2)
    args = [*RUN, "--seeds", "0-2", "--results-dir", tmp_path / "results"]
    refused(capsys, tmp_path, args, 2, "more than 2 runs; give --yes")
    code, out, err = invoke(capsys, *args, "--yes")
    assert code == 0, err
    assert len(out.splitlines()) == 3 and all(line.startswith("completed\t") for line in out.splitlines())


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_is_accepted_where_there_is_one(tmp_path, capsys):
    code, _, err = invoke(capsys, *RUN, "--device", "cuda", "--results-dir", tmp_path / "results", "--dry-run")
    assert code == 0, err


# ---------------------------------------------------------------------------------------------------
# The machine: exit 4, a documented code of its own (README, `ganbench --help`)

@pytest.fixture
def mount(tmp_path):
    """``mount(name, *options)``: a small tmpfs at ``tmp_path/name``; skips the test where none can be mounted."""
    mounted = []

    def make(name: str, *options: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(("size=256k", *options)), "tmpfs", str(path)],
                              capture_output=True, text=True)
        if proc.returncode:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
        mounted.append(path)
        return path
    yield make
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def read_only(tmp_path, mount):
    """A directory nobody here can write to: mode 555, or for root (who ignores modes) a read-only mount."""
    if os.geteuid() != 0:
        path = tmp_path / "ro"
        path.mkdir()
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
    else:
        yield mount("ro", "ro")


@pytest.fixture
def full_disk(mount):
    path = mount("full")
    try:
        with open(path / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    return path


def _stored_runs(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    return results


@pytest.mark.parametrize("where", ["", "sub/dir"])
def test_a_read_only_results_dir_is_an_environment_error(tmp_path, capsys, read_only, where):
    refused(capsys, tmp_path, [*RUN, "--results-dir", str(read_only / where)], 4, "is not writable")


def test_report_out_on_a_read_only_place_is_an_environment_error(tmp_path, capsys, read_only):
    results = _stored_runs(tmp_path)
    refused(capsys, tmp_path, ["report", "--results-dir", str(results), "--out", str(read_only / "lb")], 4,
            "--out")


def test_report_out_under_a_file_is_a_usage_error(tmp_path, capsys):
    results = _stored_runs(tmp_path)
    (tmp_path / "afile").write_text("")
    refused(capsys, tmp_path, ["report", "--results-dir", str(results), "--out", str(tmp_path / "afile" / "lb")],
            2, "is a file; give a directory")


def test_a_full_disk_during_run_is_an_environment_error(tmp_path, capsys, full_disk):
    code, _, err = invoke(capsys, *RUN, "--results-dir", full_disk / "results")
    assert code == 4, err
    assert len(err.strip().splitlines()) == 1 and "no space left on device" in err, err


def test_a_full_disk_during_report_is_an_environment_error(tmp_path, capsys, full_disk):
    results = _stored_runs(tmp_path)
    code, _, err = invoke(capsys, "report", "--results-dir", results, "--out", full_disk / "lb")
    assert code == 4, err
    assert len(err.strip().splitlines()) == 1 and "no space left on device" in err, err


@pytest.mark.parametrize("arch, dataset, task", [
    ("mlp", "ring8", None), ("dcgan", "mnist5k", None), ("srgan", "mnist5k_x4", "super_resolution"),
    ("pix2pix", "mnist5k_edges", "paired_translation"), ("cyclegan", "mnist5k_digits28", "unpaired_translation"),
    ("seqgan", "oracle_lstm", "text")])
def test_no_named_metric_ends_in_an_internal_error(tmp_path, capsys, arch, dataset, task):
    """Every built-in metric named against an architecture and dataset of each task: a plan, or one line
    and exit 2, never an internal error (pixel_fidelity on a generation run once was one). A search over
    every architecture x dataset x task x metric (55,488 dry runs) found no other."""
    from ganbench import plugins
    host = plugins.load()
    for task in (task,):
        for metric in (None, *host.metrics.names()):
            args = ["run", "--arch", arch, "--loss", "nonsaturating", "--dataset", dataset, "--budget", "steps=1",
                    "--dry-run", "--results-dir", tmp_path / "results"]
            args += ["--task", task] if task else []
            args += ["--metric", metric] if metric else []
            code, out, err = invoke(capsys, *args)
            lines = err.strip().splitlines()
            assert code in (0, 2), (task, metric, err)
            assert code == 0 or (lines and lines[-1].startswith("ganbench: error: ")), (task, metric, err)
            assert "internal error" not in err and "Traceback" not in err, (task, metric, err)
    assert not (tmp_path / "results").exists()
