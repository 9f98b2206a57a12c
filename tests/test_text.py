"""The text task (SeqGAN on the oracle LSTM): the oracle and its likelihood against an independent
LSTM, sampling and rollouts, the policy gradient's credit assignment and its effect, the MLE
baseline and the pre-training schedule, BLEU against torchmetrics, and runs from the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy import stats

from ganbench import plugins
from ganbench.testing import invoke_cli, run_stopped_and_resumed
from ganbench.training import Trainer

from ganbench_plugins.archs._recurrent import TokenLSTM
from ganbench_plugins.archs.seqgan import SeqGAN
from ganbench_plugins.datasets.oracle_lstm import LENGTH, VOCAB_SIZE, OracleLSTM
from ganbench_plugins.losses.mle import MaximumLikelihood
from ganbench_plugins.losses.nonsaturating import NonSaturating
from ganbench_plugins.metrics.bleu import as_sequences, reference_table, sentence_bleu
from ganbench_plugins.tasks.text import Text

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--hparam", "pretrain_steps=2", "--hparam", "discriminator_pretrain_steps=1", "--hparam", "rollouts=2",
        "--hparam", "batch_size=8", "--threads", "1", "-q"]


def numpy_log_likelihood(net: TokenLSTM, tokens: np.ndarray) -> np.ndarray:
    """Per-sequence log-likelihood by the LSTM equations written out in float64 (Hochreiter and
    Schmidhuber 1997, with forget gates; torch's gate order i, f, g, o), independent of torch's cell."""
    p = {k: v.detach().double().numpy() for k, v in net.state_dict().items()}
    n, length = tokens.shape
    hidden = p["cell.weight_hh"].shape[1]
    h, c = np.zeros((n, hidden)), np.zeros((n, hidden))
    previous = np.full(n, net.vocab_size)
    total = np.zeros(n)
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    for s in range(length):
        gates = p["embed.weight"][previous] @ p["cell.weight_ih"].T + p["cell.bias_ih"] + h @ p["cell.weight_hh"].T \
            + p["cell.bias_hh"]
        i, f, g, o = np.split(gates, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        logits = h @ p["out.weight"].T + p["out.bias"]
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        total += logp[np.arange(n), tokens[:, s]]
        previous = tokens[:, s]
    return total


def test_the_oracle_is_a_fixed_random_lstm_whose_likelihood_an_independent_lstm_recomputes():
    ds = OracleLSTM()
    x, y = ds.load("test")
    assert x.shape == (2000, LENGTH) and y is None and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) < VOCAB_SIZE and bool((x == x.round()).all())
    assert torch.equal(OracleLSTM().load("test")[0], x)                 # deterministic
    assert not torch.equal(ds.load("val")[0], x)
    weights = torch.cat([p.flatten() for p in ds.oracle().parameters()])
    assert abs(float(weights.std()) - 1) < 0.05 and abs(float(weights.mean())) < 0.05   # N(0, 1)
    ours = ds.log_likelihood(x[:300]).double().numpy()
    theirs = numpy_log_likelihood(ds.oracle(), x[:300].long().numpy())
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-3)
    fresh, _, how = ds.draw("test", 500, seed=3)
    assert fresh.shape == (500, LENGTH) and "fresh" in how and not torch.equal(fresh, x[:500])
    # the oracle's own samples are far more likely under it than uniform tokens are
    uniform = torch.randint(VOCAB_SIZE, (500, LENGTH), generator=torch.Generator().manual_seed(0)).float()
    assert float(ds.log_likelihood(fresh).mean()) > float(ds.log_likelihood(uniform).mean()) + 2 * LENGTH


def test_inverse_cdf_sampling_draws_the_models_own_distribution():
    torch.manual_seed(0)
    net = TokenLSTM(6, 3, 4, 5)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.8)
    uniforms = torch.rand(20000, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = net.sample(uniforms)
        probs = torch.softmax(net.step_logits(x[:1])[0, 0].double(), dim=-1).numpy()
    # scipy wants the expected counts to sum to the observed ones within 1.5e-8: a float32 softmax is
    # off by more than that on some CPUs (AVX-512 kernels on an AMD EPYC), so normalise in float64
    probs = probs / probs.sum()
    observed = np.bincount(x[:, 0].long().numpy(), minlength=6)
    assert stats.chisquare(observed, probs * len(x)).pvalue > 1e-3
    # log_prob is the sum of the step log-probabilities of the drawn tokens, and sums to 1 over sequences
    with torch.no_grad():
        every = torch.cartesian_prod(*[torch.arange(6.0)] * 3)
        assert abs(float(net.log_prob(every).sum(1).exp().sum()) - 1) < 1e-4


NEGATED = lambda scores: -scores  # noqa: E731  (a "generator loss" whose reward is the score itself)


def test_the_papers_reward_is_ds_probability_and_the_games_is_minus_its_generator_loss():
    scores = torch.tensor([-2.0, 0.0, 3.0])
    judge = lambda x: scores  # noqa: E731
    per_sample = torch.func.vmap(lambda s: NonSaturating({}).generator_loss(s.unsqueeze(0)))
    paper = Text({**Text.defaults}).reward(judge, per_sample)(None)
    assert torch.allclose(paper, torch.sigmoid(scores))
    game = Text({**Text.defaults, "reward": "game"}).reward(judge, per_sample)(None)
    assert torch.allclose(game, torch.nn.functional.logsigmoid(scores))   # log D


def _policy(vocab=4, length=3):
    torch.manual_seed(0)
    return TokenLSTM(vocab, length, 4, 8)


def test_the_value_of_every_prefix_is_the_mean_reward_of_its_rollouts():
    """A reward fixed by the first token makes every prefix's value known in closed form: each rollout
    keeps that token, so Q(t) is the sequence's own reward at every position."""
    G = _policy()
    uniforms = torch.rand(16, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        x = G.sample(uniforms)
    reward = lambda s: (s[:, 0] == 0).float() * 2.0  # noqa: E731
    task = Text({**Text.defaults, "rollouts": 3, "reward": "game"})   # the reward is minus the generator loss
    loss = task.policy_objective(G, x, reward, NEGATED, torch.Generator().manual_seed(3))
    r = reward(x)
    by_hand = -(G.log_prob(x) * (r - r.mean()).unsqueeze(1)).mean()
    assert torch.allclose(loss, by_hand, atol=1e-6)
    # a reward that does not depend on the sequence has no advantage: no gradient at all
    G.zero_grad()
    task.policy_objective(G, x, lambda s: torch.ones(len(s)), NEGATED, torch.Generator().manual_seed(3)).backward()
    assert all(float(p.grad.abs().max()) == 0 for p in G.parameters())


def test_the_policy_gradient_raises_the_reward_it_is_given():
    G = _policy(vocab=5, length=4)
    task = Text({**Text.defaults, "rollouts": 4, "reward": "game"})
    reward = lambda s: (s == 2).float().mean(dim=1)  # noqa: E731
    opt = torch.optim.Adam(G.parameters(), lr=0.05)
    rng = torch.Generator().manual_seed(4)

    def share_of_twos():
        with torch.no_grad():
            return float(reward(G.sample(torch.rand(2000, 4, generator=torch.Generator().manual_seed(5)))).mean())

    before = share_of_twos()
    for _ in range(40):
        with torch.no_grad():
            x = G.sample(torch.rand(32, 4, generator=rng))
        opt.zero_grad()
        task.policy_objective(G, x, reward, NEGATED, rng).backward()
        opt.step()
    assert before < 0.35 and share_of_twos() > before + 0.3


def _trainer(loss_cls, **task_hparams):
    ds = OracleLSTM()
    x, _ = ds.load("train")
    hparams = {**Text.defaults, **SeqGAN.defaults, "batch_size": 8, "n_critic": 1, "rollouts": 2,
               "sg_embedding": 4, "sg_hidden": 8, "sd_embedding": 4, **task_hparams}
    return Trainer(SeqGAN(), loss_cls(hparams), [], ds.info, x[:256], None, hparams, seed=0, task=Text(hparams))


def _weights(net):
    return [p.detach().clone() for p in net.parameters()]


def test_the_mle_baseline_never_updates_d_and_lowers_the_likelihood_loss():
    trainer = _trainer(MaximumLikelihood)
    d_before = _weights(trainer.D)
    real = trainer.train_x[:64]
    with torch.no_grad():
        nll_before = float(-trainer.G.log_prob(real).mean())
    for _ in range(30):
        out = trainer.step()
        assert float(out["loss_d"]) == 0
    assert all(torch.equal(a, b) for a, b in zip(d_before, _weights(trainer.D)))
    with torch.no_grad():
        assert float(-trainer.G.log_prob(real).mean()) < nll_before - 0.3


def test_pre_training_is_likelihood_then_d_joins_then_the_policy_gradient_starts(monkeypatch):
    trainer = _trainer(NonSaturating, pretrain_steps=3, discriminator_pretrain_steps=1)
    calls = []
    original = Text.policy_objective
    monkeypatch.setattr(Text, "policy_objective",
                        lambda self, *a: calls.append(trainer.steps_done) or original(self, *a))
    d_changed = []
    for _ in range(5):
        before = _weights(trainer.D)
        trainer.step()
        d_changed.append(any(not torch.equal(a, b) for a, b in zip(before, _weights(trainer.D))))
    assert d_changed == [False, False, True, True, True]
    assert calls == [3, 4]


def test_sentence_bleu_is_torchmetrics_sentence_bleu_and_self_bleu_leaves_the_sentence_out():
    from torchmetrics.functional.text import bleu_score
    gen = torch.Generator().manual_seed(6)
    # a small vocabulary so that 3- and 4-grams do match
    candidates = as_sequences(torch.randint(4, (25, 8), generator=gen).float())
    references = as_sequences(torch.randint(4, (12, 8), generator=gen).float())
    words = lambda s: " ".join(map(str, s))  # noqa: E731
    table = reference_table(references)
    nonzero = 0
    for c in candidates:
        theirs = float(bleu_score([words(c)], [[words(r) for r in references]], n_gram=4, smooth=True))
        assert math.isclose(sentence_bleu(c, table), theirs, rel_tol=1e-6, abs_tol=1e-9)
        nonzero += theirs > 0
    assert nonzero > 10
    own = reference_table(candidates)
    for i in (0, 7, 24):
        others = [words(r) for j, r in enumerate(candidates) if j != i]
        theirs = float(bleu_score([words(candidates[i])], [others], n_gram=4, smooth=True))
        assert math.isclose(sentence_bleu(candidates[i], own, leave_out=i), theirs, rel_tol=1e-6, abs_tol=1e-9)
    repeated = [candidates[0]] * 5
    assert all(sentence_bleu(s, reference_table(repeated), leave_out=i) == 1.0 for i, s in enumerate(repeated))


def test_a_text_run_scores_its_saved_samples_under_the_oracle_with_a_real_data_row(tmp_path):
    from ganbench import cli as cli_mod
    out = CliRunner().invoke(cli_mod.cli, ["run", "--task", "text", "--arch", "seqgan", "--loss", "nonsaturating",
                                           "--dataset", "oracle_lstm", "--budget", "steps=4", *TINY,
                                           "--results-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    result = json.loads((run_dir / "result.json").read_text())
    assert set(result["final"]) == {"oracle_nll", "bleu_4", "self_bleu_4"}
    with np.load(run_dir / "samples.npz") as z:
        samples = z["samples"]
    assert samples.shape == (2000, LENGTH)
    recomputed = -numpy_log_likelihood(OracleLSTM.oracle(), samples.astype(np.int64)).mean() / LENGTH
    assert math.isclose(result["final"]["oracle_nll"]["value"], recomputed, rel_tol=1e-5)
    (ref_dir,) = [p for p in (tmp_path / "references").iterdir() if p.name.startswith("real-")]
    ref = json.loads((ref_dir / "result.json").read_text())["final"]["oracle_nll"]["value"]
    test_nll = -float(OracleLSTM().log_likelihood(OracleLSTM().load("test")[0]).mean()) / LENGTH
    assert abs(ref - test_nll) < 0.1 and ref < recomputed     # the oracle's entropy rate: the floor
    out = CliRunner().invoke(cli_mod.cli, ["report", "--results-dir", str(tmp_path), "--out", str(tmp_path / "rep")])
    assert out.exit_code == 0, out.output
    table = (tmp_path / "rep" / "report.md").read_text()
    assert "Text (oracle LSTM)" in table and "oracle_nll" in table and "real data" in table


def test_a_text_run_stopped_after_a_checkpoint_resumes_to_the_same_weights(tmp_path, monkeypatch):
    run = ["run", "--task", "text", "--arch", "seqgan", "--loss", "nonsaturating", "--dataset", "oracle_lstm",
           "--budget", "steps=6", "--eval-every", "3", *TINY]
    whole, resumed = run_stopped_and_resumed(run, tmp_path, monkeypatch, stop_at_step=3)
    assert resumed["steps"] == whole["steps"] == 6 and resumed["weights_hash"] == whole["weights_hash"]
    assert {k: v["value"] for k, v in resumed["final"].items()} == {k: v["value"] for k, v in whole["final"].items()}


def test_what_cannot_run_text_is_refused_with_its_reason(capsys, tmp_path):
    host = plugins.load()
    assert Text.supports(host.architectures.get("mlp"), NonSaturating, OracleLSTM).startswith(
        "task text: architecture mlp serves generation")
    reason = Text.supports(SeqGAN, NonSaturating, host.datasets.get("mnist5k"))
    assert reason == "task text runs on tokens data; dataset mnist5k holds image"
    generation = host.tasks.get("generation")
    assert "holds tokens" in generation.supports(host.architectures.get("mlp"), NonSaturating, OracleLSTM)
    code, _, err = invoke_cli(capsys, "run", "--task", "text", "--arch", "seqgan", "--loss", "nonsaturating",
                                       "--dataset", "oracle_lstm", "--technique", "instance_noise",
                                       "--budget", "steps=2", "--results-dir", str(tmp_path), "-q")
    assert code == 2 and "instance_noise: does not declare discrete_samples" in err
    assert "Traceback" not in err


def test_list_tasks_shows_text_with_its_dataset_and_metrics(capsys):
    code, out, _ = invoke_cli(capsys, "list", "tasks")
    assert code == 0
    (line,) = [row for row in out.splitlines() if row.startswith("text\t")]
    assert "datasets: oracle_lstm" in line and "metrics: oracle_nll bleu" in line
