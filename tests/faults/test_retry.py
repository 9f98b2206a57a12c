"""A failure caused by the environment is not final (issue 11, item 4): ``--retry-failed``."""

import pytest

from faultlib import Registers, invoke, spec, with_plugin
from ganbench import plugins, runner, store
from ganbench.spec import Budget
from ganbench_plugins.losses.nonsaturating import NonSaturating


class Flaky(NonSaturating):
    """Fails (or diverges) while ``Flaky.trouble`` says so, as a lost device or a full disk would."""

    name = "flaky"
    trouble: str | None = None

    def discriminator_loss(self, real_scores, fake_scores):
        loss = super().discriminator_loss(real_scores, fake_scores)
        if Flaky.trouble == "failed":
            raise RuntimeError("the device went away")
        return loss * float("nan") if Flaky.trouble == "diverged" else loss


@pytest.fixture
def trouble(monkeypatch):
    def set_to(value):
        monkeypatch.setattr(Flaky, "trouble", value)
    return set_to


@pytest.mark.parametrize("status", ["failed", "diverged"])
def test_retry_failed_trains_a_failed_or_diverged_run_again(tmp_path, trouble, status):
    host = plugins.load(extra=[("flaky", Registers("losses", Flaky))])
    flaky = spec(loss="flaky", budget=Budget("steps", 20), metrics=())
    trouble(status)
    first = runner.execute(flaky, tmp_path, host=host)
    assert first["status"] == status
    trouble(None)
    assert runner.execute(flaky, tmp_path, host=host) == first  # stored, not retried

    again = runner.execute(flaky, tmp_path, host=host, retry_failed=True)

    assert again["status"] == "completed"
    run_dir = tmp_path / "runs" / flaky.dirname
    aside = list(run_dir.glob("result.json.attempt-*"))
    assert len(aside) == 1 and store.read_json(aside[0]) == first
    assert not (run_dir / "error.txt").exists()
    assert runner.execute(flaky, tmp_path, host=host, retry_failed=True) == again  # completed runs stay


def test_the_command_says_a_failure_is_stored_and_retries_it_when_asked(tmp_path, monkeypatch, capsys, trouble):
    with_plugin(monkeypatch, "flaky", Registers("losses", Flaky))
    args = ["run", "--arch", "mlp", "--loss", "flaky", "--dataset", "ring8", "--budget", "steps=10",
            "--hparam", "batch_size=32", "--metric", "mode_coverage", "--threads", "1", "--quiet",
            "--results-dir", tmp_path]
    trouble("failed")
    code, _, err = invoke(capsys, *args)
    assert code == 1 and "the device went away" in err and "earlier attempt" not in err

    trouble(None)
    code, _, err = invoke(capsys, *args)
    [line] = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert code == 1
    assert line.endswith("; stored result from an earlier attempt; --retry-failed to run it again")

    code, out, err = invoke(capsys, *args, "--retry-failed")
    assert code == 0, err
    assert out.startswith("completed\t")
