"""K seeds in one batched computation (ganbench.vectorized) behind the contract of a solo run.

The documented tolerance (``vectorized.LOSS_RTOL``, ``METRIC_RTOL``) is what these tests assert: on this
CPU the grouped backend is in fact bit-identical to solo runs, but another BLAS build may order a sum
differently. What is exact by construction is asserted exactly: random streams, counters, the records'
structure, and a resumed group against an uninterrupted one.
"""

import json
import math
from pathlib import Path

import pytest
import torch

from ganbench import plugins, runner, store, sweep, vectorized
from ganbench.spec import Budget, RunSpec

TINY = {"batch_size": 32}
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def host():
    return plugins.load()


def _spec(seed=0, **kw):
    base = dict(arch="mlp", loss="nonsaturating", dataset="ring8", seed=seed, budget=Budget("steps", 60),
                hparams=TINY, metrics=("mode_coverage",), eval_every=20, threads=1)
    base.update(kw)
    return RunSpec(**base)


def _trainers(host, loss, seeds=SEEDS, hparams=TINY, rngs=None, device="cpu", arch="mlp", dataset="ring8",
              techniques=()):
    """Trainers as their solo runs build them; ``rngs`` collects each one's global RNG state after init."""
    out = []
    for seed in seeds:
        spec = RunSpec(arch=arch, loss=loss, dataset=dataset, seed=seed, budget=Budget("steps", 100), hparams=hparams,
                       device=device, techniques=tuple(techniques))
        out.append(runner.build_trainer(host, spec, runner.resolve_hparams(host, spec))[1])
        if rngs is not None:
            rngs.append(torch.get_rng_state())
    return out


def _solo_step(trainer, rngs, k):
    """``trainer.step()`` with its own global RNG, as in its own process (penalties draw from it)."""
    torch.set_rng_state(rngs[k])
    out = trainer.step()
    rngs[k] = torch.get_rng_state()
    return out


def _close(a, b, rtol):
    return torch.allclose(a, b, rtol=rtol, atol=rtol * 1e-3)


def _close_in_scale(a, b, rtol):
    """Within ``rtol`` of the tensor's largest magnitude: Adam turns a round-off sign flip of a gradient
    near zero into a full-size update of that one weight, so elementwise relative error is not the measure."""
    return bool((a - b).abs().max() <= rtol * a.abs().max().clamp_min(1e-12))


def _metric_values_close(a: dict, b: dict) -> bool:
    if sorted(a) != sorted(b):
        return False
    for name in a:
        x, y = a[name]["value"], b[name]["value"]
        if x is None or y is None or (math.isnan(x) and math.isnan(y)):
            if not (x is y or (x is not None and y is not None)):
                return False
            continue
        if not math.isclose(x, y, rel_tol=vectorized.METRIC_RTOL, abs_tol=1e-9):
            return False
        if [a[name][k] for k in ("num_samples", "reference_split", "extractor")] != \
                [b[name][k] for k in ("num_samples", "reference_split", "extractor")]:
            return False
    return True


def _json(obj) -> str:
    """As JSON, so that NaN compares equal to NaN."""
    return json.dumps(obj, sort_keys=True)


def _files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------------
# The batched step against Trainer.step, step by step.

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ON_CUDA = [pytest.param(loss, backend, "cuda", marks=CUDA, id=f"{loss}-{backend}-cuda")
           for loss, backend in (("nonsaturating", "grouped"), ("nonsaturating", "vmap"), ("wgan_gp", "grouped"))]


@pytest.mark.parametrize("loss, backend, device", [
    ("nonsaturating", "grouped", "cpu"), ("nonsaturating", "vmap", "cpu"), ("hinge", "grouped", "cpu"),
    ("lsgan", "grouped", "cpu"), ("minimax", "grouped", "cpu"), ("wgan", "grouped", "cpu"),
    ("ragan", "grouped", "cpu"), ("r1", "grouped", "cpu"), ("dragan", "grouped", "cpu"),
    ("wgan_gp", "grouped", "cpu"), *ON_CUDA,
])
def test_batched_step_matches_solo_trainers_step_by_step(host, loss, backend, device):
    steps = 100 if host.losses.get(loss).defaults.get("n_critic", 1) == 1 else 30
    solo_rngs, group_rngs = [], []
    solo = _trainers(host, loss, rngs=solo_rngs, device=device)
    grouped = _trainers(host, loss, rngs=group_rngs, device=device)
    group = vectorized.SeedGroup(grouped, group_rngs, backend=backend)
    for _ in range(steps):
        outs = [_solo_step(t, solo_rngs, k) for k, t in enumerate(solo)]
        loss_d, loss_g = group.step()
        assert _close(loss_d, torch.stack([o["loss_d"] for o in outs]), vectorized.LOSS_RTOL)
        assert _close(loss_g, torch.stack([o["loss_g"] for o in outs]), vectorized.LOSS_RTOL)
    group.write_back()
    for a, b in zip(solo, grouped):
        assert (a.steps_done, a.batches_drawn) == (b.steps_done, b.batches_drawn)
        assert torch.equal(a.latent_rng.get_state(), b.latent_rng.get_state())
    assert all(torch.equal(a, b) for a, b in zip(solo_rngs, group.global_rng))
    for a, b in zip(solo, grouped):
        for (name, p), q in zip(list(a.G.named_parameters()) + list(a.D.named_parameters()),
                                list(b.G.parameters()) + list(b.D.parameters())):
            assert _close(p, q, vectorized.LOSS_RTOL), name
        sa, sb = a.opt_d.state_dict(), b.opt_d.state_dict()
        assert sa["param_groups"] == sb["param_groups"] and sorted(sa["state"]) == sorted(sb["state"])


@pytest.mark.parametrize("loss", ["nonsaturating", "wgan_gp"])
def test_unrolled_discriminator_in_a_group_follows_the_solo_trainers(host, loss):
    """Unrolled D (a technique declaring vectorizable_seeds): each step's look-ahead copy of the stacked
    D takes its updates on the seeds' own batches, the group's D and optimiser state stay untouched by
    it, and every seed follows its solo run (with a penalty in the look-ahead updates for wgan_gp)."""
    hparams = {**TINY, "unrolling_steps": 3}
    solo_rngs, group_rngs = [], []
    solo = _trainers(host, loss, hparams=hparams, rngs=solo_rngs, techniques=("unrolled",))
    grouped = _trainers(host, loss, hparams=hparams, rngs=group_rngs, techniques=("unrolled",))
    group = vectorized.SeedGroup(grouped, group_rngs)
    for _ in range(12):
        outs = [_solo_step(t, solo_rngs, k) for k, t in enumerate(solo)]
        loss_d, loss_g = group.step()
        assert _close(loss_d, torch.stack([o["loss_d"] for o in outs]), vectorized.LOSS_RTOL)
        assert _close(loss_g, torch.stack([o["loss_g"] for o in outs]), vectorized.LOSS_RTOL)
    group.write_back()
    n_critic = host.losses.get(loss).defaults.get("n_critic", 1)
    for a, b in zip(solo, grouped):
        # per step: n_critic batches for D's own updates and 3 for the look-ahead ones
        assert a.batches_drawn == b.batches_drawn == 12 * (n_critic + 3)
        assert torch.equal(a.latent_rng.get_state(), b.latent_rng.get_state())
        for p, q in zip(list(a.G.parameters()) + list(a.D.parameters()), list(b.G.parameters()) + list(b.D.parameters())):
            assert _close(p, q, vectorized.LOSS_RTOL)
        steps = {float(s["step"]) for s in b.opt_d.state_dict()["state"].values()}
        assert steps == {12.0 * n_critic}   # the look-ahead steps stayed in the copies


@pytest.mark.parametrize("loss", ["wgan_gp", "r1"])
def test_lazy_regularisation_in_a_group_follows_the_solo_trainers(host, loss):
    """penalty_every: the group adds each seed's penalty in the same steps, times the same k, drawn
    from each seed's own penalty stream."""
    hp = {**TINY, "penalty_every": 3, "n_critic": 1}
    solo, grouped = _trainers(host, loss, hparams=hp), _trainers(host, loss, hparams=hp)
    group = vectorized.SeedGroup(grouped, [torch.get_rng_state()] * len(SEEDS))
    for _ in range(10):
        outs = [t.step() for t in solo]
        loss_d, _ = group.step()
        assert _close(loss_d, torch.stack([o["loss_d"] for o in outs]), vectorized.LOSS_RTOL)
    assert all(torch.equal(a.penalty_rng.get_state(), b.penalty_rng.get_state()) for a, b in zip(solo, grouped))
    every_step = _trainers(host, loss, hparams={**hp, "penalty_every": 1})
    for t in every_step:
        for _ in range(10):
            t.step()
    if loss == "wgan_gp":  # the stream is drawn in 4 of 10 steps instead of all 10
        assert not torch.equal(every_step[0].penalty_rng.get_state(), solo[0].penalty_rng.get_state())


def test_batched_step_matches_solo_on_flattened_images(host):
    from ganbench.api import DataInfo
    from ganbench.training import Trainer
    arch, loss = host.architectures.get("mlp"), host.losses.get("hinge")
    hparams = {**arch.defaults, "batch_size": 16, "image_hidden": 64}
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    y = torch.randint(0, 10, (64,))   # labelled data, an unconditional architecture: labels reach no network
    data = DataInfo((1, 28, 28), 10)
    solo, grouped = ([Trainer(arch(), loss(hparams), [], data, x, y, hparams, seed=s) for s in SEEDS]
                     for _ in range(2))
    assert vectorized.structural_reason(grouped[0]) is None
    group = vectorized.SeedGroup(grouped, [torch.get_rng_state()] * len(SEEDS))
    for _ in range(10):
        outs = [t.step() for t in solo]
        loss_d, loss_g = group.step()
        assert _close(loss_d, torch.stack([o["loss_d"] for o in outs]), vectorized.LOSS_RTOL)
        assert _close(loss_g, torch.stack([o["loss_g"] for o in outs]), vectorized.LOSS_RTOL)
    group.write_back()
    assert all(_close(p, q, vectorized.LOSS_RTOL) for a, b in zip(solo, grouped)
               for p, q in zip(a.G.parameters(), b.G.parameters()))


def test_reused_fakes_protocol_option_is_followed(host):
    hp = {**TINY, "reuse_fake_for_generator": True}
    if not hasattr(_trainers(host, "nonsaturating", seeds=(0,), hparams=hp)[0], "reuse_fake_for_generator"):
        pytest.skip("this Trainer has no reuse_fake_for_generator option")
    solo = _trainers(host, "nonsaturating", hparams=hp)
    grouped = _trainers(host, "nonsaturating", hparams=hp)
    group = vectorized.SeedGroup(grouped, [torch.get_rng_state()] * len(SEEDS))
    for _ in range(20):
        outs = [t.step() for t in solo]
        _, loss_g = group.step()
        assert _close(loss_g, torch.stack([o["loss_g"] for o in outs]), vectorized.LOSS_RTOL)
    assert [t.latent_rng.get_state().sum() for t in solo] == [t.latent_rng.get_state().sum() for t in grouped]


# ---------------------------------------------------------------------------------------------------
# The channels fold (DCGAN: BatchNorm, per-seed statistics) against Trainer.step.

TINY_DCGAN = {"batch_size": 16, "ngf": 8, "ndf": 8}
DCGAN = dict(arch="dcgan", dataset="mnist5k", hparams=TINY_DCGAN)


def _solo_losses(trainers, rngs):
    outs = [_solo_step(t, rngs, k) for k, t in enumerate(trainers)]
    return torch.stack([o["loss_d"] for o in outs]), torch.stack([o["loss_g"] for o in outs])


def _other_kernels(device: str):
    """The same computation with the library's other convolution kernels: two solo runs that differ only
    in this drift apart through fp32 round-off, the floor against which the fold is measured."""
    return torch.backends.cudnn.flags(enabled=False) if device == "cuda" else torch.backends.mkldnn.flags(enabled=False)


@pytest.mark.parametrize("loss, device", [("nonsaturating", "cpu"), ("wgan_gp", "cpu"), ("hinge", "cpu"),
                                          pytest.param("nonsaturating", "cuda", marks=CUDA, id="nonsaturating-cuda"),
                                          pytest.param("wgan_gp", "cuda", marks=CUDA, id="wgan_gp-cuda")])
def test_folded_seeds_follow_their_solo_trainers_with_their_own_batchnorm_statistics(host, loss, device):
    """The documented tolerance of the fold: losses within LOSS_RTOL for the first FOLD_STEPS steps; then
    every weight and BatchNorm statistic (a penalty's extra D pass included) within FOLD_DRIFT_FACTOR times
    the distance between the solo run and itself on other convolution kernels; streams and counters exact;
    each seed's statistics its own."""
    solo_rngs, other_rngs, group_rngs = [], [], []
    solo = _trainers(host, loss, rngs=solo_rngs, device=device, **DCGAN)
    other = _trainers(host, loss, rngs=other_rngs, device=device, **DCGAN)
    folded = _trainers(host, loss, rngs=group_rngs, device=device, **DCGAN)
    assert vectorized.choose_backend(folded[0], "auto", "channels") == ("channels", None)
    group = vectorized.SeedGroup(folded, group_rngs, backend="channels")
    for _ in range(vectorized.FOLD_STEPS):
        solo_d, solo_g = _solo_losses(solo, solo_rngs)
        with _other_kernels(device):
            _solo_losses(other, other_rngs)
        loss_d, loss_g = group.step()
        # WGAN losses are differences of scores that cancel near zero: the scale is the step's largest loss
        scale = torch.cat([solo_d, solo_g]).abs().max()
        assert (loss_d - solo_d).abs().max() <= vectorized.LOSS_RTOL * scale
        assert (loss_g - solo_g).abs().max() <= vectorized.LOSS_RTOL * scale
    group.write_back()
    assert all(torch.equal(a, b) for a, b in zip(solo_rngs, group.global_rng))
    for a, b, c in zip(solo, folded, other):
        assert (a.steps_done, a.batches_drawn) == (b.steps_done, b.batches_drawn)
        for module_a, module_b, module_c in ((a.G, b.G, c.G), (a.D, b.D, c.D)):
            sa, sb, sc = module_a.state_dict(), module_b.state_dict(), module_c.state_dict()
            assert sorted(sa) == sorted(sb) and any("running_var" in n for n in sa)
            for name in sa:
                if sa[name].dtype.is_floating_point:
                    fold, floor = (sb[name] - sa[name]).abs().max(), (sc[name] - sa[name]).abs().max()
                    limit = vectorized.FOLD_DRIFT_FACTOR * floor + vectorized.LOSS_RTOL * sa[name].abs().max()
                    assert fold <= limit, (name, float(fold), float(floor))
                else:   # BatchNorm's step counters
                    assert torch.equal(sa[name], sb[name]), name
    # Each seed's statistics are its own: no two seeds' running means are alike.
    means = [t.G.net[1].running_mean for t in folded]
    assert not torch.allclose(means[0], means[1])


def test_folded_seeds_drift_from_solo_no_faster_than_solo_drifts_on_other_convolution_kernels(host):
    """Past FOLD_STEPS, fp32 round-off grows through the BatchNorm network as in any run: over 30 steps
    the fold's losses stay within FOLD_DRIFT_FACTOR times the solo runs' own drift on other kernels."""
    solo_rngs, other_rngs, group_rngs = [], [], []
    solo = _trainers(host, "hinge", rngs=solo_rngs, **DCGAN)
    other = _trainers(host, "hinge", rngs=other_rngs, **DCGAN)
    group = vectorized.SeedGroup(_trainers(host, "hinge", rngs=group_rngs, **DCGAN), group_rngs, backend="channels")
    drift = {"fold": 0.0, "solo": 0.0}
    rel = lambda x, y: ((x - y).abs() / y.abs().clamp_min(1e-6)).max().item()  # noqa: E731
    for _ in range(30):
        reference = _solo_losses(solo, solo_rngs)
        with _other_kernels("cpu"):
            again = _solo_losses(other, other_rngs)
        folded = group.step()
        drift["solo"] = max(drift["solo"], *(rel(x, y) for x, y in zip(again, reference)))
        drift["fold"] = max(drift["fold"], *(rel(x, y) for x, y in zip(folded, reference)))
    assert drift["solo"] > 0   # the two solo runs did take different kernels
    assert drift["fold"] <= vectorized.FOLD_DRIFT_FACTOR * drift["solo"] + vectorized.LOSS_RTOL, drift


def test_fold_refuses_layers_it_cannot_fold_before_training(host):
    from torch import nn
    assert vectorized.fold_reason(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())) is None
    assert "Linear" in vectorized.fold_reason(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Linear(4, 1)))
    assert "InstanceNorm2d" in vectorized.fold_reason(nn.Sequential(nn.Conv2d(1, 4, 3), nn.InstanceNorm2d(4)))
    assert "cumulative" in vectorized.fold_reason(nn.Sequential(nn.BatchNorm2d(4, momentum=None)))
    assert "reflect" in vectorized.fold_reason(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect")))
    trainer = _trainers(host, "nonsaturating", seeds=(0,), **DCGAN)[0]
    assert vectorized.structural_reason(trainer, "channels") is None
    trainer.D.head = nn.Sequential(nn.Flatten(), nn.Linear(4, 1))
    assert "does not fold into channels: layer head.0 (Flatten)" in vectorized.structural_reason(trainer, "channels")
    mlp = _trainers(host, "nonsaturating", seeds=(0,))[0]
    assert vectorized.choose_backend(mlp, "auto", None) == ("grouped", None)
    assert vectorized.choose_backend(trainer, "vmap", "channels")[1] is not None


def test_a_folded_group_writes_solo_records_and_resumes_as_a_group(tmp_path, host, monkeypatch):
    specs = [_spec(seed, budget=Budget("steps", 8), eval_every=4, metrics=(), **DCGAN) for seed in SEEDS]
    solo = [runner.execute(s, tmp_path / "solo", host=host) for s in specs]
    reference = runner.execute_group(specs, tmp_path / "ref", host=host, explicit=True)
    for spec, a, b in zip(specs, solo, reference):
        assert b["status"] == a["status"] == "completed"
        assert b["training"]["backend"] == "channels" and b["training"]["group"] == list(SEEDS)
        assert _files(tmp_path / "solo" / "runs" / spec.dirname) == _files(tmp_path / "ref" / "runs" / spec.dirname)
        ca = store.torch_load(tmp_path / "solo" / "runs" / spec.dirname / "checkpoint.pt")["trainer"]
        cb = store.torch_load(tmp_path / "ref" / "runs" / spec.dirname / "checkpoint.pt")["trainer"]
        for net in ("G", "D"):
            assert sorted(ca[net]) == sorted(cb[net])
            assert all(_close_in_scale(ca[net][n], cb[net][n], vectorized.LOSS_RTOL) if ca[net][n].dtype.is_floating_point
                       else torch.equal(ca[net][n], cb[net][n]) for n in ca[net])

    real_step = vectorized.SeedGroup.step

    def interrupted(self):
        if self.trainers[0].steps_done == 6:
            raise KeyboardInterrupt   # between the checkpoints of steps 4 and 8
        return real_step(self)

    monkeypatch.setattr(vectorized.SeedGroup, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.execute_group(specs, tmp_path / "killed", host=host, explicit=True)
    monkeypatch.setattr(vectorized.SeedGroup, "step", real_step)
    resumed = runner.execute_group(specs, tmp_path / "killed", host=host, explicit=True)
    # Resumed from solo checkpoints (BatchNorm statistics included), the group computes what it did.
    assert [r["weights_hash"] for r in resumed] == [r["weights_hash"] for r in reference]


# ---------------------------------------------------------------------------------------------------
# Run directories: one per seed, the records of a solo run.

@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_group_writes_the_records_of_solo_runs(tmp_path, host, device):
    specs = [_spec(seed, budget=Budget("steps", 100), eval_every=0, evaluations=4, device=device) for seed in SEEDS]
    solo = [runner.execute(s, tmp_path / "solo", host=host) for s in specs]
    grouped = runner.execute_group(specs, tmp_path / "vec", host=host, explicit=True)
    assert len(grouped) == len(specs)
    for spec, a, b in zip(specs, solo, grouped):
        da, db = tmp_path / "solo" / "runs" / spec.dirname, tmp_path / "vec" / "runs" / spec.dirname
        assert _files(da) == _files(db)
        assert _json(b) == _json(store.read_json(db / "result.json"))
        assert b["status"] == a["status"] == "completed"
        assert b["training"]["mode"] == "vectorized" and b["training"]["group"] == list(SEEDS)
        assert set(b) - set(a) == {"training"}
        assert _metric_values_close(a["final"], b["final"])
        assert a["selected"]["step"] == b["selected"]["step"]
        assert _metric_values_close(a["selected"]["metrics"], b["selected"]["metrics"])
        assert (a["steps"], a["images_shown"], a["flops_per_step"], a["params"]) == \
               (b["steps"], b["images_shown"], b["flops_per_step"], b["params"])
        assert store.read_json(da / "spec.json")["spec"] == store.read_json(db / "spec.json")["spec"]
        # stats.jsonl: same lines, losses within tolerance.
        sa, sb = store.read_jsonl(da / "stats.jsonl"), store.read_jsonl(db / "stats.jsonl")
        assert [(r["step"], r["kimg"], sorted(r)) for r in sa] == [(r["step"], r["kimg"], sorted(r)) for r in sb]
        for ra, rb in zip(sa, sb):
            for key in ("loss_d", "loss_g"):
                assert math.isclose(ra[key], rb[key], rel_tol=vectorized.LOSS_RTOL), (ra, rb)
        # metrics.jsonl: same evaluations.
        ma, mb = store.read_jsonl(da / "metrics.jsonl"), store.read_jsonl(db / "metrics.jsonl")
        assert [(r["step"], r["split"], r["name"]) for r in ma] == [(r["step"], r["split"], r["name"]) for r in mb]
        # checkpoint.pt: a solo checkpoint (format, streams and counters exact, weights in tolerance).
        ca, cb = store.torch_load(da / "checkpoint.pt"), store.torch_load(db / "checkpoint.pt")
        assert sorted(ca) == sorted(cb) and sorted(ca["trainer"]) == sorted(cb["trainer"])
        ta, tb = ca["trainer"], cb["trainer"]
        for key in ("latent_rng", "technique_rng", "global_rng"):
            assert torch.equal(ta[key], tb[key]), key
        assert (ta["steps_done"], ta["batches_drawn"]) == (tb["steps_done"], tb["batches_drawn"])
        for net in ("G", "D"):
            assert sorted(ta[net]) == sorted(tb[net])
            for name in ta[net]:
                assert _close(ta[net][name], tb[net][name], vectorized.LOSS_RTOL)
        for opt in ("opt_g", "opt_d"):
            assert ta[opt]["param_groups"] == tb[opt]["param_groups"]
            for i, state in ta[opt]["state"].items():
                assert sorted(state) == sorted(tb[opt]["state"][i])
                assert torch.equal(state["step"], tb[opt]["state"][i]["step"])
        assert ca["best"]["step"] == cb["best"]["step"] and ca["max_steps"] == cb["max_steps"]


@pytest.mark.parametrize("config", [{}, DCGAN], ids=["mlp-grouped", "dcgan-channels"])
def test_a_diverging_seed_is_masked_while_the_others_complete(tmp_path, host, monkeypatch, config):
    """Folded into channels too: a grouped convolution or BatchNorm that let one seed's NaNs reach another
    seed's channels would fail the other seeds here."""
    build = runner.build_trainer

    def poisoned(host_, spec, hparams, *args, **kwargs):
        dataset, trainer = build(host_, spec, hparams, *args, **kwargs)
        if spec.seed == 1:  # one seed's data only: its losses go NaN from the first step
            trainer.train_x = trainer.train_x * float("nan")
        return dataset, trainer

    monkeypatch.setattr(runner, "build_trainer", poisoned)
    metrics = ("mode_coverage",) if not config else ()
    specs = [_spec(seed, budget=Budget("steps", 40), metrics=metrics, **config) for seed in SEEDS]
    solo = [runner.execute(s, tmp_path / "solo", host=host) for s in specs]
    grouped = runner.execute_group(specs, tmp_path / "vec", host=host, explicit=True)
    assert [r["status"] for r in grouped] == ["completed", "diverged", "completed"]
    assert grouped[0]["training"]["backend"] == ("channels" if config else "grouped")
    keys = ("status", "diverged_at", "steps", "error")
    expected = ["diverged", 10, 10, "non-finite loss by step 10"]
    assert [solo[1][k] for k in keys] == [grouped[1][k] for k in keys] == expected
    assert store.read_json(tmp_path / "vec" / "runs" / specs[1].dirname / "result.json")["status"] == "diverged"
    for a, b in (solo[0], grouped[0]), (solo[2], grouped[2]):
        assert _metric_values_close(a["final"], b["final"])
        assert b["training"]["group"] == list(SEEDS)
    for spec in (specs[0], specs[2]):  # the NaNs never reached the other seeds
        sa = store.read_jsonl(tmp_path / "solo" / "runs" / spec.dirname / "stats.jsonl")
        sb = store.read_jsonl(tmp_path / "vec" / "runs" / spec.dirname / "stats.jsonl")
        assert len(sa) == len(sb) == 4 and all(math.isfinite(y["loss_d"]) for y in sb)
        # the fold is held to LOSS_RTOL for FOLD_STEPS steps (the first line), then drifts as solo runs do
        close = sb[:1] if config else sb
        assert all(math.isclose(x["loss_d"], y["loss_d"], rel_tol=vectorized.LOSS_RTOL) for x, y in zip(sa, close))


def test_interrupted_group_resumes_from_per_seed_checkpoints(tmp_path, host, monkeypatch):
    specs = [_spec(seed) for seed in SEEDS]
    reference = runner.execute_group(specs, tmp_path / "ref", host=host)

    real_step = vectorized.SeedGroup.step

    def interrupted(self):
        if self.trainers[0].steps_done == 30:
            raise KeyboardInterrupt  # as a kill would, between two checkpoints (steps 20 and 40)
        return real_step(self)

    monkeypatch.setattr(vectorized.SeedGroup, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.execute_group(specs, tmp_path / "killed", host=host)
    monkeypatch.setattr(vectorized.SeedGroup, "step", real_step)
    dirs = [tmp_path / "killed" / "runs" / s.dirname for s in specs]
    assert not any((d / "result.json").exists() for d in dirs)
    assert [store.torch_load(d / "checkpoint.pt")["trainer"]["steps_done"] for d in dirs] == [20, 20, 20]

    # Seed 0 resumes solo from its group checkpoint; then the group finishes the other two.
    solo0 = runner.execute(specs[0], tmp_path / "killed", host=host)
    resumed = runner.execute_group(specs, tmp_path / "killed", host=host)
    assert _json(resumed[0]) == _json(solo0) and "training" not in solo0
    for spec, a, b in zip(specs, reference, resumed):
        assert b["status"] == "completed"
        assert _metric_values_close(a["final"], b["final"])
        ra = store.read_jsonl(tmp_path / "ref" / "runs" / spec.dirname / "metrics.jsonl")
        rb = store.read_jsonl(tmp_path / "killed" / "runs" / spec.dirname / "metrics.jsonl")
        assert [(r["step"], r["split"], r["name"]) for r in ra] == [(r["step"], r["split"], r["name"]) for r in rb]
    for a, b in zip(reference[1:], resumed[1:]):  # group resumed as a group: the same computation
        assert a["weights_hash"] == b["weights_hash"]
        assert b["training"]["group"] == [1, 2]


# ---------------------------------------------------------------------------------------------------
# What runs solo, and why.

def test_unsupported_configurations_fall_back_with_one_logged_reason(tmp_path, host, capsys):
    assert vectorized.unsupported(host, _spec()) is None
    assert "BatchNorm" in vectorized.unsupported(host, _spec(arch="sngan_resnet", dataset="mnist5k"))
    dcgan = _spec(arch="dcgan", dataset="mnist5k")
    assert "auto keeps dcgan solo on the CPU" in vectorized.unsupported(host, dcgan)
    assert vectorized.unsupported(host, dcgan, explicit=True) is None
    assert "technique ema" in vectorized.unsupported(host, _spec(techniques=("ema",)))
    assert vectorized.unsupported(host, _spec(techniques=("unrolled",))) is None   # declares vectorizable_seeds
    assert "seconds" in vectorized.unsupported(host, _spec(budget=Budget("seconds", 1)))
    assert "fp32" in vectorized.unsupported(host, _spec(precision="bf16"))

    specs = [_spec(seed, techniques=("ema",), budget=Budget("steps", 20), metrics=()) for seed in (0, 1)]
    capsys.readouterr()
    results = runner.execute_group(specs, tmp_path, host=host)
    runner.execute_group(specs, tmp_path, host=host)  # finished: returned as stored, no second line
    err = capsys.readouterr().err
    assert err.count("vectorize-seeds: falling back to solo runs for mlp-nonsaturating+ema: technique ema") == 1
    assert [r["status"] for r in results] == ["completed", "completed"]
    assert all("training" not in r for r in results)


def test_cuda_vectorises_only_a_group_size_asked_for(tmp_path, host, monkeypatch):
    """Written device-generic but not yet measured on a GPU: ``auto`` keeps CUDA runs solo, saying how to
    opt in; ``--vectorize-seeds K`` groups them; devices other than the CPU and CUDA never group."""
    monkeypatch.setattr(vectorized.runner, "resolve_device", lambda device: "cuda:0")
    spec = _spec(device="cuda")
    assert "--vectorize-seeds K opts in" in vectorized.unsupported(host, spec)
    assert vectorized.unsupported(host, spec, explicit=True) is None
    monkeypatch.setattr(vectorized.runner, "resolve_device", lambda device: "mps")
    assert "CPU and CUDA" in vectorized.unsupported(host, _spec(device="mps"), explicit=True)
    monkeypatch.setattr(vectorized.runner, "resolve_device", lambda device: "cuda:0")

    class Recorder:  # an executor that records what it is sent instead of running it
        def map(self, fn, items):
            for item in items:
                n = len(item) if isinstance(item, list) else 1
                yield item, [{"explicit": fn.keywords.get("explicit"), "n": n}] * n

    from functools import partial
    specs = [_spec(s, device="cuda") for s in range(3)]
    fn = partial(runner.execute, results_dir=tmp_path, host=host)
    auto = [r for _, r in sweep.SeedGroupExecutor(Recorder(), "auto", host=host).map(fn, specs)]
    asked = [r for _, r in sweep.SeedGroupExecutor(Recorder(), "3", host=host).map(fn, specs)]
    assert [r["n"] for r in auto] == [1, 1, 1] and [r["n"] for r in asked] == [3, 3, 3]
    assert {r["explicit"] for r in asked} == {True}
    assert sweep.explicit_vectorize_seeds("auto") is False and sweep.explicit_vectorize_seeds(None) is False
    assert sweep.explicit_vectorize_seeds(4) is True


def test_a_sweep_of_stored_runs_says_nothing_about_falling_back(tmp_path, capsys):
    from ganbench.testing import invoke_cli
    args = ["run", "--arch", "mlp", "--loss", "hinge", "--technique", "ema", "--dataset", "ring8", "--seeds", "0,1",
            "--budget", "steps=3", "--metric", "mode_coverage", "--quiet", "--threads", "1",
            "--results-dir", str(tmp_path)]
    vectorized._logged.clear()
    code, _, err = invoke_cli(capsys, *args)
    assert code == 0 and "falling back to solo runs for mlp-hinge+ema" in err
    vectorized._logged.clear()  # a new process would say it again, if it had anything to train
    code, _, err = invoke_cli(capsys, *args)
    assert code == 0 and "falling back" not in err


def test_structural_check_refuses_batchnorm_before_training(host):
    from ganbench.api import DataInfo
    from ganbench.training import Trainer
    arch = host.architectures.get("dcgan")
    hparams = {**arch.defaults, **host.losses.get("nonsaturating").defaults, "batch_size": 8}
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    trainer = Trainer(arch(), host.losses.get("nonsaturating")(hparams), [], DataInfo((1, 28, 28), 10), x, None,
                      hparams, seed=0)
    assert "buffers" in vectorized.structural_reason(trainer)
    assert vectorized.structural_reason(_trainers(host, "wgan", seeds=(0,))[0]) is None


# ---------------------------------------------------------------------------------------------------
# Grouping in the sweep, and the command line.

def test_seed_groups_and_the_group_executor(tmp_path, host):
    specs = [_spec(s, budget=Budget("steps", 10), metrics=()) for s in range(5)] + \
            [_spec(s, loss="hinge", budget=Budget("steps", 10), metrics=()) for s in range(2)]
    groups = sweep.seed_groups(specs, 3)
    assert [[s.seed for s in g] for g in groups] == [[0, 1, 2], [3, 4], [0, 1]]
    assert {g[0].loss for g in groups[:2]} == {"nonsaturating"}
    assert sweep.parse_vectorize_seeds("auto") == vectorized.MAX_GROUP and sweep.parse_vectorize_seeds("1") == 1
    with pytest.raises(Exception, match="vectorize-seeds"):
        sweep.parse_vectorize_seeds("0")

    from functools import partial
    fn = partial(runner.execute, results_dir=tmp_path, host=host)
    out = list(sweep.SeedGroupExecutor(sweep.LocalExecutor(), "auto", host=host).map(fn, specs))
    assert [s for s, _ in out] == specs
    assert all(r["status"] == "completed" and r["training"]["seeds"] == len(r["training"]["group"]) for _, r in out)
    assert [r["training"]["seeds"] for _, r in out] == [5] * 5 + [2] * 2
    again = list(sweep.SeedGroupExecutor(sweep.LocalExecutor(), 1, host=host).map(fn, specs))
    assert _json([r for _, r in again]) == _json([r for _, r in out])  # same directories: returned as stored


def test_command_line_vectorises_seeds_by_default(tmp_path, host):
    from conftest import run_cli
    args = ["run", "--arch", "mlp", "--loss", "nonsaturating", "--dataset", "ring8", "--seeds", "0,1",
            "--budget", "steps=20", "--hparam", "batch_size=32", "--metric", "mode_coverage", "--threads", "1",
            "--quiet", "--json", "--results-dir", str(tmp_path)]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)["runs"]
    results = [json.loads((Path(r["dir"]) / "result.json").read_text()) for r in runs]
    assert [r["training"]["group"] for r in results] == [[0, 1], [0, 1]]
    solo = [runner.execute(RunSpec.from_dict({**store.read_json(Path(r["dir"]) / "spec.json")["spec"],
                                              "hparams": TINY}), tmp_path / "solo", host=host) for r in runs]
    for a, b in zip(solo, results):
        assert _metric_values_close(a["final"], b["final"])


def test_a_dry_run_says_how_each_run_will_train_as_the_sweep_groups_it(tmp_path, capsys):
    """The plan of a dry run is the executor's: planned_groups serves both (and the ETA)."""
    from ganbench.testing import invoke_cli
    base = ["run", "--arch", "mlp", "--arch", "dcgan", "--loss", "nonsaturating", "--dataset", "mnist5k",
            "--seeds", "0-2", "--budget", "steps=10", "--dry-run", "--results-dir", str(tmp_path)]
    code, out, err = invoke_cli(capsys, *base, "--vectorize-seeds", "2")
    assert code == 0, err
    column = {line.split("\t")[0].split("-s")[0] + line.split("\t")[0].split("-s")[1][:1]: line.split("\t")[2]
              for line in out.splitlines() if line.startswith(("mlp-", "dcgan-"))}
    # at most 2 a group: seeds 0 and 1 together, seed 2 alone; dcgan as well, the size being asked for
    assert column == {"mlp-nonsaturating-mnist5k0": "vectorized x2", "mlp-nonsaturating-mnist5k1": "vectorized x2",
                      "mlp-nonsaturating-mnist5k2": "solo", "dcgan-nonsaturating-mnist5k0": "vectorized x2",
                      "dcgan-nonsaturating-mnist5k1": "vectorized x2", "dcgan-nonsaturating-mnist5k2": "solo"}
    assert "would train solo" not in err
    code, out, err = invoke_cli(capsys, *base, "--json")
    assert code == 0, err
    training = {r["name"].split("-s")[0]: r["training"] for r in json.loads(out)["runs"]}
    assert training["mlp-nonsaturating-mnist5k"] == {"mode": "vectorized", "seeds": 3}
    assert training["dcgan-nonsaturating-mnist5k"]["mode"] == "solo"
    assert "auto keeps dcgan solo on the CPU" in training["dcgan-nonsaturating-mnist5k"]["reason"]
    code, out, err = invoke_cli(capsys, *base)
    assert code == 0 and err.count("vectorize-seeds: dcgan-nonsaturating would train solo: auto keeps") == 1
    assert not (tmp_path / "runs").exists()
