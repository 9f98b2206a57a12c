"""One run: a pure function of its specification, from spec to ``result.json``.

``execute(spec, results_dir)`` builds the plugins named in the spec, trains under the budget, evaluates
on the held-out split during training and on the test split at the end, and stores everything in the
run's directory (:mod:`ganbench.store`). It never raises for a run's own failure: a plugin exception
becomes status ``failed`` (traceback in ``error.txt``), a non-finite loss becomes ``diverged``.
A run found finished is returned as stored; a run found with a checkpoint resumes from it. A run is
trained only by the process holding its lock (:meth:`ganbench.store.RunDir.lock`), so processes may
share a results directory.
"""

from __future__ import annotations

import contextlib
import json
import math
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

from ganbench import provenance, store
from ganbench.api import GENERATION, MetricValue
from ganbench.evaluation import RunEvaluation, as_dict
from ganbench.records import RunRecords
from ganbench.spec import ReferenceSpec, RunSpec
from ganbench.training import GENERATOR_INPUTS, Trainer, prepare_process

LOG_EVERY = 10          # steps between stats lines and finiteness checks
WARMUP_STEPS = 3        # steps excluded from throughput (allocator warm-up, lazy init, compile)


_STEP_COST_CACHE: dict[str, dict[str, float]] = {}


class Diverged(Exception):
    pass


def resolve_device(device: str) -> str:
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    return device


def resolve_hparams(host, spec: RunSpec) -> dict[str, Any]:
    """The task's defaults, the architecture's, then the loss's, each technique's, the user's overrides."""
    hparams: dict[str, Any] = {}
    hparams.update(host.tasks.get(spec.task).defaults)
    hparams.update(host.architectures.get(spec.arch).defaults)
    hparams.update(host.losses.get(spec.loss).defaults)
    for name in spec.techniques:
        hparams.update(host.techniques.get(name).defaults)
    hparams.update(spec.hparams)
    return hparams


def incompatibility(host, spec: RunSpec) -> str | None:
    """Why this combination cannot run (``None`` if it can). Unknown names raise UsageError."""
    arch = host.architectures.get(spec.arch)
    loss = host.losses.get(spec.loss)
    data = host.datasets.get(spec.dataset).info
    reason = task_incompatibility(host, spec)
    if reason:
        return reason
    reason = arch.supports(data)
    if reason:
        return f"{spec.arch}: {reason}"
    if data.kind == "tokens" and loss.double_backward:
        return f"{spec.loss}: its penalty differentiates D's input, and {spec.dataset} holds discrete token sequences"
    if arch.conditional and not data.num_classes:
        return f"{spec.arch} is conditional and {spec.dataset} has no labels"
    for name in spec.techniques:
        technique = host.techniques.get(name)
        reason = technique.supports(arch, loss, data)
        if reason:
            return f"{name}: {reason}"
        if data.kind == "tokens" and not technique.discrete_samples:
            return (f"{name}: does not declare discrete_samples ({spec.dataset} holds token sequences, which it "
                    f"would perturb, mix or differentiate)")
        if technique.one_score_per_sample and arch.scores_per_sample != 1:
            return (f"{name}: adds to each sample's one score (declares one_score_per_sample); {spec.arch}'s D "
                    f"gives {arch.scores_per_sample} per sample")
    reason = encoder_incompatibility(host, spec) if arch.encoder else None
    if reason:
        return reason
    if arch.discriminator_sees_input:
        for name in spec.techniques:
            if not host.techniques.get(name).encoder_compatible:
                return (f"{name}: does not declare encoder_compatible ({spec.arch}'s D judges (output, input) "
                        f"pairs, and the technique would give it labels)")
    reason = progress_incompatibility(host, spec) if arch.follows_progress else None
    if reason:
        return reason
    return ddp_incompatibility(host, spec) if spec.ddp > 1 else None


def task_incompatibility(host, spec: RunSpec) -> str | None:
    """Why ``spec``'s architecture, loss and dataset cannot run its task (``api.Task.supports``), or
    why the trainer cannot: it gives a generator the inputs in :data:`ganbench.training.GENERATOR_INPUTS`."""
    task = host.tasks.get(spec.task)
    reason = task.supports(host.architectures.get(spec.arch), host.losses.get(spec.loss), host.datasets.get(spec.dataset))
    if reason:
        return reason
    if task.generator_input not in GENERATOR_INPUTS:
        return (f"task {spec.task}: its generator is given {task.generator_input.replace('_', ' ')}, and the "
                f"trainer gives a generator {', '.join(GENERATOR_INPUTS)} only")
    return None


def task_members(host, task) -> dict[str, Any]:
    """What the loaded plugins offer ``task`` (an ``api.Task`` class), from declarations alone: its
    generator input and data, and the architectures, losses, datasets and metrics that fit it."""
    datasets = [d.name for d in host.datasets if d.holds == task.needs and d.info.kind in task.data_kinds
                and (task.needs != "pairs" or d.pair_input == task.generator_input)]
    if task.metrics:
        metrics = [m for m in task.metrics if m in host.metrics]
    else:
        infos = [(host.datasets.get(d).info, d) for d in datasets]
        metrics = [m.name for m in host.metrics if any(m.supports(info, d) is None for info, d in infos)
                   and (task.generator_input != "noise" or not m.needs_pairs)]
    return {"generator_input": task.generator_input, "needs": task.needs, "table": task.table,
            "trainable": task.generator_input in GENERATOR_INPUTS,
            "architectures": [a.name for a in host.architectures
                              if task.name in a.tasks and a.generator_input == task.generator_input],
            "losses": [l.name for l in host.losses if task.name in l.tasks],
            "datasets": datasets, "metrics": metrics}


def progress_incompatibility(host, spec: RunSpec) -> str | None:
    """Why ``spec``'s architecture, which declares ``follows_progress`` (its networks grow), cannot run
    under its budget (``None`` if it can): a kimg budget that ends before the networks reach their
    final state, or a flops budget (one measured step does not price the steps that follow)."""
    arch = host.architectures.get(spec.arch)
    if spec.budget.kind == "flops":
        return f"{spec.arch}: its networks grow during training, so one measured step does not price a flops budget"
    try:
        needed = arch.images_until_final(host.datasets.get(spec.dataset).info, resolve_hparams(host, spec))
    except ValueError as exc:
        return f"{spec.arch}: {exc}"
    except (TypeError, KeyError):
        return None  # a malformed hyperparameter: preflight names it
    if spec.budget.kind == "kimg" and spec.budget.value * 1000 < needed:
        return (f"{spec.arch}: the budget of {spec.budget.value:g} kimg ends before its networks reach their final "
                f"state at {needed / 1000:g} kimg (shorten its schedule hparams or give a larger budget)")
    return None


def encoder_incompatibility(host, spec: RunSpec) -> str | None:
    """Why ``spec``'s architecture, which declares ``encoder`` (D judges (x, z) pairs), cannot train
    with its loss and techniques (``None`` if it can), from declarations."""
    arch, loss = host.architectures.get(spec.arch), host.losses.get(spec.loss)
    if arch.conditional:
        return f"{arch.name} declares both encoder and conditional: D's second argument is a latent code"
    if loss.double_backward:
        return (f"{spec.arch}: {loss.name}'s penalty differentiates D's gradient with respect to its input, "
                f"and this D judges (x, z) pairs")
    for name in spec.techniques:
        if not host.techniques.get(name).encoder_compatible:
            return (f"{name}: does not declare encoder_compatible ({spec.arch}'s D judges (x, z) pairs "
                    f"and its encoder trains with G)")
    return None


def ddp_incompatibility(host, spec: RunSpec) -> str | None:
    """Why ``spec`` cannot train on ``spec.ddp`` processes (``None`` if it can), from declarations."""
    arch, loss = host.architectures.get(spec.arch), host.losses.get(spec.loss)
    if loss.double_backward:
        return f"--ddp: {loss.name}'s gradient penalty differentiates through a backward pass, not tested under DDP"
    if arch.auxiliary_head:
        return f"--ddp: {arch.name}'s auxiliary head trains D inside G's update, which DDP does not all-reduce"
    if arch.encoder:
        return f"--ddp: {arch.name}'s encoder trains outside G's forward, which DDP does not all-reduce"
    if arch.follows_progress:
        return f"--ddp: {arch.name} grows during training, and DDP refuses the layers a phase leaves without gradient"
    if host.tasks.get(spec.task).generator_input != "noise":
        return f"--ddp: task {spec.task} gives its generator an input; only noise-input runs are tested under DDP"
    for name in spec.techniques:
        if not host.techniques.get(name).ddp_compatible:
            return f"--ddp: technique {name} does not declare ddp_compatible"
    if spec.budget.kind in ("seconds", "flops"):
        return f"--ddp: a {spec.budget.kind} budget is measured per process; give steps or kimg"
    if spec.compile:
        return "--ddp: --compile is not combined with DDP here"
    if resolve_device(spec.device) == "mps":
        return "--ddp: no DDP backend for MPS"
    return None


def ddp_backend(device: str) -> str:
    """NCCL between GPUs, gloo between CPU processes (``torch.distributed``'s own advice)."""
    return "nccl" if resolve_device(device).startswith("cuda") else "gloo"


def build_trainer(host, spec: RunSpec, hparams: dict, data_root: str | None = None, download: bool = False,
                  ddp_rank: int | None = None, device: str | None = None, step_streams: bool | None = None):
    """``(dataset, Trainer)``; ``ddp_rank``: this process's rank of a ``spec.ddp``-process run (``None``:
    a one-process trainer, also for a DDP run's throwaway measurement step); ``step_streams``: see
    :class:`~ganbench.training.Trainer`."""
    dataset = host.datasets.get(spec.dataset)(root=data_root, download=download)
    train_x, train_y = dataset.load("train")
    task = host.tasks.get(spec.task)(hparams)
    task.prepare(dataset)
    # a task whose generator is given an input trains on the dataset's (input, target) pairs
    train_inputs = dataset.load_inputs("train") if task.generator_input != "noise" else None
    arch = host.architectures.get(spec.arch)()
    loss = host.losses.get(spec.loss)(hparams)
    techniques = [host.techniques.get(n)(hparams) for n in spec.techniques]
    ddp = {"ddp_rank": ddp_rank, "ddp_world": spec.ddp} if ddp_rank is not None else {}
    trainer = Trainer(arch, loss, techniques, dataset.info, train_x, train_y, hparams, spec.seed,
                      device=device or resolve_device(spec.device), precision=spec.precision,
                      channels_last=spec.channels_last, compile=spec.compile,
                      compile_mode=spec.compile_mode, step_streams=step_streams,
                      task=task, train_inputs=train_inputs, **ddp)
    return dataset, trainer


def measure_step(make_trainer: Callable[[], Trainer], count_flops: bool = True,
                 timed_steps: int = 3) -> dict[str, float]:
    """The cost of one real training step, on a throwaway trainer so the real run is untouched:
    ``flops`` (all D updates and the G update, forward and backward, counted by
    ``torch.utils.flop_counter``; 0 when not counted), ``images``, the real images the trainer
    drew in it (techniques such as unrolling draw extra batches: the trainer counts them all), and
    ``seconds``, the fastest of ``timed_steps`` plain steps after two more untimed ones (the sweep's
    ETA; never a result)."""
    with torch.random.fork_rng(devices=[]):
        trainer = make_trainer()
        before = trainer.images_shown
        if count_flops:
            counter = _TotalFlopCounter()
            with counter:
                trainer.step()
            flops = int(counter.get_total_flops())
        else:
            trainer.step()
            flops = 0
        images = trainer.images_shown - before
        for _ in range(2):  # oneDNN and the allocator settle over the first real steps: not timed
            trainer.step()
        seconds = math.inf
        for _ in range(max(1, timed_steps)):
            _sync(str(trainer.device))
            t0 = time.perf_counter()
            trainer.step()
            _sync(str(trainer.device))
            seconds = min(seconds, time.perf_counter() - t0)
    return {"flops": flops, "images": images, "seconds": seconds}


def cached_step_cost(spec: RunSpec, hparams: dict[str, Any], host,
                     measure: Callable[[], dict[str, float]], kind: str = "step") -> dict[str, float]:
    """A step's FLOPs, images and time depend on shapes, not on the seed: measured once per configuration,
    kept in memory for this process and on disk (``cache_dir()/step_costs``) for the next one,
    keyed by everything but seed, study and budget, plus the versions that could change them.
    ``kind`` names another measurement of the configuration (a seed group's step), cached the same way."""
    from ganbench import paths
    fields = {**spec.to_dict(), "seed": None, "study": None, "budget": None,
              "hparams": hparams, "versions": provenance.versions(host)}
    if kind != "step":
        fields["measurement"] = kind
    key = json.dumps(fields, sort_keys=True, default=str)
    if key in _STEP_COST_CACHE:
        return _STEP_COST_CACHE[key]
    import hashlib
    path = paths.cache_dir() / "step_costs" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
    cost = None
    with contextlib.suppress(Exception):  # absent, unreadable or older: measuring again is always safe
        stored = store.read_json(path)
        if stored.get("key") == key:
            cost = {name: stored[name] for name in stored if name != "key"}
            if not all(isinstance(v, (int, float)) for v in cost.values()):
                cost = None
    if cost is None:
        cost = measure()
        with contextlib.suppress(OSError):
            store.atomic_write_json(path, {"key": key, **cost})
    _STEP_COST_CACHE[key] = cost
    return cost


def estimate_seconds(spec: RunSpec, host, data_root: str | None = None, download: bool = False) -> float | None:
    """Seconds of training the budget of ``spec`` buys on this machine, from one timed step of its
    configuration (the cost the run itself reads from the cache): the sweep's ETA, nothing else.
    ``None`` when the configuration cannot even build; the run will say why."""
    if spec.budget.kind == "seconds":
        return float(spec.budget.value)
    hparams = resolve_hparams(host, spec)
    make = lambda: build_trainer(host, spec, hparams, data_root, download)[1]  # noqa: E731
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(spec.threads)
        cost = cached_step_cost(spec, hparams, host, lambda: measure_step(make, count_flops=spec.device != "mps"))
        steps = steps_for_budget(spec, int(cost["images"]), int(cost["flops"]) or None)
    except Exception:  # noqa: BLE001 - an estimate never stops a sweep
        return None
    finally:
        torch.set_num_threads(threads)
    return steps * cost["seconds"] if steps else None


def measure_flops_per_step(make_trainer: Callable[[], Trainer]) -> int:
    """FLOPs of one real training step (see :func:`measure_step`)."""
    return measure_step(make_trainer)["flops"]


class _NoModuleTracking:
    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return None


def _TotalFlopCounter():
    """FlopCounterMode counting totals only. Its per-module tracker hooks backward passes in a way
    that breaks ``torch.autograd.grad`` (every gradient penalty), and only the total is needed."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModuleTracking()
    return counter


def steps_for_budget(spec: RunSpec, images_per_step: int, flops_per_step: int | None) -> int | None:
    """The number of steps the budget allows; ``None`` for a wall-clock budget (decided while running)."""
    kind, value = spec.budget.kind, spec.budget.value
    if kind == "steps":
        return int(value)
    if kind == "kimg":
        return max(1, math.ceil(value * 1000 / images_per_step))
    if kind == "flops":
        if not flops_per_step:
            raise RuntimeError("FLOP budget needs a measurable training step, and this one counted 0 FLOPs")
        return max(1, int(value // flops_per_step))
    return None


def evaluation_steps(planned: int, evaluations: int) -> frozenset[int]:
    """``evaluations`` steps spread evenly over ``planned`` steps, the last one on step ``planned``."""
    count = max(int(evaluations), 1)
    return frozenset(max(1, round(k * planned / count)) for k in range(1, count + 1))


def _reset_peak_memory(device: str) -> None:
    """Start this run's peak-memory count from here, so runs of one sweep do not inherit earlier peaks."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with contextlib.suppress(OSError):
        # Linux: writing 5 resets the process's peak resident set size (VmHWM).
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def _peak_memory(device: str) -> tuple[int, str]:
    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated()), "cuda_allocator"
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024, "process_rss"
    # Elsewhere only the peak of the whole process is known (all runs so far in a sweep).
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "process_rss_lifetime"


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class _Run:
    """One execution of a run: its loop and budget, over the run's evaluation and selection
    (:class:`ganbench.evaluation.RunEvaluation`) and its records (:class:`ganbench.records.RunRecords`).
    Lives only inside :func:`execute`, and one per seed inside :func:`ganbench.vectorized.execute_group`,
    which shares :meth:`setup`, :meth:`schedule`, :meth:`log_stats`, :meth:`evaluate_val`,
    :meth:`save_checkpoint` and :meth:`finish` and batches only the steps between them."""

    def __init__(self, spec: RunSpec, results_dir: Path, host, data_root, download, progress,
                 rank: int | None = None, device: str | None = None):
        self.spec = spec
        self.rd = store.RunDir(results_dir, spec.dirname)
        self.records = RunRecords(self.rd, spec.content_hash(), spec.name)
        self.host = host
        self.data_root = data_root
        self.download = download
        self.progress = progress
        # Under --ddp every rank trains; only rank 0 evaluates and writes the run directory.
        self.rank = rank
        self.writes = not rank
        self.device = device or resolve_device(spec.device)
        self.hparams = resolve_hparams(host, spec)
        self.train_seconds = 0.0
        self.timed_images = 0

    # -- set-up, budget and resume -------------------------------------------------------------
    def setup(self) -> bool:
        """Build the trainer, read the step's cost (its FLOPs and images: the budget), and continue
        from the run's checkpoint if it has one; return whether it did. The global RNG is then the
        one the training steps draw from: after initialisation, or as the checkpoint saved it."""
        spec = self.spec
        make = lambda rank=None: build_trainer(self.host, spec, self.hparams, self.data_root,  # noqa: E731
                                               self.download, ddp_rank=rank, device=self.device)
        self.dataset, self.trainer = make(self.rank)
        self.evaluation = RunEvaluation(self.host, spec, self.dataset, self.trainer, self.device, self.records)
        # FlopCounterMode does not run on MPS: there only the images of a step are measured.
        # (On a one-process trainer, even under --ddp: a measurement must not join the ranks' collectives.)
        cost = cached_step_cost(spec, self.hparams, self.host,
                                lambda: measure_step(lambda: make()[1], count_flops=spec.device != "mps"))
        self.flops_per_step = cost["flops"] or None
        # For kimg budgets this is an estimate (evaluation spacing, progress bar): the loop stops on the
        # trainer's own count of images shown, the one counter that budgets, img/s and result.json read.
        self.max_steps = steps_for_budget(spec, cost["images"], self.flops_per_step)
        resumed = self.try_resume() if self.writes else False
        if spec.ddp > 1:
            resumed = self.follow_rank_zero(resumed)
        return resumed

    def budget_spent(self) -> bool:
        spec, trainer = self.spec, self.trainer
        if spec.budget.kind == "kimg":
            return trainer.images_shown >= spec.budget.value * 1000
        if self.max_steps is not None and trainer.steps_done >= self.max_steps:
            return True
        return spec.budget.kind == "seconds" and self.train_seconds >= spec.budget.value

    def schedule(self) -> tuple[Callable[[int], bool], Callable[[int], bool]]:
        """``(evaluation_due, checkpoint_due)``: which steps end with a val evaluation, and with a checkpoint."""
        spec = self.spec
        if spec.eval_every:
            due = lambda step, every=spec.eval_every: step % every == 0  # noqa: E731
        else:
            # `evaluations` points spread evenly with the last on the final step, where the test-split
            # evaluation happens anyway (planned // E would put it one step short, e.g. 3999 of 4000).
            due = evaluation_steps(self.max_steps or 10_000, spec.evaluations).__contains__
        checkpoint_due = (lambda step: step % spec.checkpoint_every == 0) if spec.checkpoint_every else due
        return due, checkpoint_due

    def save_checkpoint(self) -> None:
        self.records.save_checkpoint({
            "trainer": self.trainer.state_dict(), "train_seconds": self.train_seconds,
            "timed_images": self.timed_images, "best": self.evaluation.best, "max_steps": self.max_steps})

    def try_resume(self) -> bool:
        """Continue from this run's ``checkpoint.pt``; without one, start clean. Either way the logs
        then hold exactly what an uninterrupted run would have logged by that step."""
        state = self.records.own_checkpoint()
        if state is None:
            # Killed before its first checkpoint, or its checkpoint refused: nothing logged so far counts.
            self.records.start_over()
            return False
        self.trainer.load_state_dict(state["trainer"])
        self.train_seconds = state["train_seconds"]
        self.timed_images = state["timed_images"]
        self.evaluation.best = state["best"]
        self.max_steps = state["max_steps"]
        self.records.rewind(self.trainer.steps_done)
        return True

    def follow_rank_zero(self, resumed: bool) -> bool:
        """Under --ddp: every rank continues from the checkpoint rank 0 resumed from, if any. The
        broadcast also orders it: rank 0 has decided (and set aside a foreign checkpoint) before any
        other rank reads the file."""
        import torch.distributed as dist
        flag = torch.tensor([int(resumed)], device=self.device)
        dist.broadcast(flag, src=0)
        if self.writes or not flag.item():
            return bool(flag.item())
        state = self.records.read_checkpoint()
        self.trainer.load_state_dict(state["trainer"])
        self.max_steps = state["max_steps"]
        return True

    # -- what a step leaves behind -------------------------------------------------------------
    def log_stats(self, loss_d: float, loss_g: float) -> None:
        t = self.trainer
        self.records.log_stats(t.steps_done, t.images_shown / 1000, loss_d, loss_g, self.train_seconds,
                               self.timed_images)

    def evaluate_val(self) -> list[MetricValue]:
        """The val evaluation after a step: logged, its samples' grid saved, the best generator kept."""
        step = self.trainer.steps_done
        values, _, ctx = self.evaluation.evaluate(self.trainer.evaluation_generator(), "val")
        self.records.log_metrics(values, "val", step, self.trainer.images_shown / 1000, self.train_seconds)
        self.save_grid(ctx, f"samples/step_{step:06d}.png")
        self.evaluation.select(values, step)
        return values

    def save_grid(self, ctx, name: str) -> None:
        """An 8x8 grid of an evaluation's samples (images only; 2D scatter plots are the report's job)."""
        drawn = getattr(ctx, "drawn", None)
        if self.dataset.info.is_image and drawn is not None:
            self.records.save_grid(drawn[0], name)

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        spec, trainer = self.spec, None
        torch.set_num_threads(spec.threads)
        _reset_peak_memory(self.device)
        resumed = self.setup()
        trainer = self.trainer
        due, checkpoint_due = self.schedule()
        if not resumed and self.writes:
            notify(self.host, "ganbench_run_start", spec=store.read_json(self.rd.file(store.SPEC)),
                   run_dir=str(self.rd.path))

        bar = self.progress(total=self.max_steps, initial=trainer.steps_done, desc=spec.name, runs=[spec.dirname]) \
            if self.progress else None
        pending_bad = torch.zeros((), dtype=torch.bool, device=trainer.device)
        while not self.budget_spent():
            _sync(self.device)
            t0 = time.perf_counter()
            images_before = trainer.images_shown
            last = trainer.step()
            pending_bad |= ~(torch.isfinite(last["loss_d"]) & torch.isfinite(last["loss_g"]))
            _sync(self.device)
            elapsed = time.perf_counter() - t0
            step = trainer.steps_done
            if step > WARMUP_STEPS:
                self.train_seconds += elapsed
                self.timed_images += trainer.images_shown - images_before
            if bar:
                bar.update(1)
            if (step % LOG_EVERY == 0 or step == self.max_steps) and self.writes:
                if bool(pending_bad):
                    raise Diverged(step)
                self.log_stats(float(last["loss_d"]), float(last["loss_g"]))
            if not self.writes:
                if bool(pending_bad) and step % LOG_EVERY == 0:
                    raise Diverged(step)   # the losses are averaged over ranks: rank 0 stops here too
                continue
            if due(step) and spec.metrics:
                values = self.evaluate_val()
                if bar and values:
                    bar.set_postfix({values[0].name: f"{values[0].value:.3g}"})
            if checkpoint_due(step):
                self.save_checkpoint()
        if bar:
            bar.close()
        if bool(pending_bad):
            raise Diverged(trainer.steps_done)
        return self.finish() if self.writes else {"status": "completed", "steps": trainer.steps_done}

    def finish(self) -> dict[str, Any]:
        """The test-split evaluations, ``samples.npz`` and the final grid; the run's result record."""
        trainer = self.trainer
        step = trainer.steps_done
        if trainer.architecture.follows_progress:
            needed = trainer.architecture.images_until_final(self.dataset.info, self.hparams)
            if trainer.images_shown < needed:
                _log(f"warning: {self.spec.name} stopped at {trainer.images_shown / 1000:g} kimg, before "
                     f"{self.spec.arch} reached its final networks at {needed / 1000:g} kimg")
        final_values, errors, ctx, selected = self.evaluation.test_scores()
        self.records.log_metrics(final_values, "test", step, trainer.images_shown / 1000, self.train_seconds)
        drawn = getattr(ctx, "drawn", None)
        drawn = drawn if drawn is not None else ctx.sample_with_labels(64)
        pairs = None
        if trainer.paired:  # every test input, its output and its target: what the pixel metrics compared
            outputs, targets = ctx.paired("test")
            drawn = (outputs, self.dataset.load("test")[1] if self.dataset.info.num_classes else None)
            pairs = (self.evaluation.split_inputs("test"), targets)
        self.records.save_samples(drawn, self.dataset.info, pairs)
        self.save_grid(ctx, "samples/final.png")
        peak, kind = _peak_memory(self.device)
        return {
            "status": "completed", "steps": step, "images_shown": trainer.images_shown,
            "kimg": trainer.images_shown / 1000, "flops_per_step": self.flops_per_step,
            "total_flops": self.flops_per_step * step if self.flops_per_step else None,
            "final": as_dict(final_values), "metric_errors": errors, "selected": selected,
            "throughput": {"train_images_per_second": self.timed_images / self.train_seconds if self.train_seconds else None,
                           "train_seconds": self.train_seconds, "warmup_steps": WARMUP_STEPS},
            "peak_memory_bytes": peak, "memory_kind": kind,
            "params": {"generator": _count(trainer.G), "discriminator": _count(trainer.D)},
            "weights_hash": trainer.weights_hash(), "diverged_at": None, "error": None,
            "technique_values": trainer.technique_values(),  # api.Technique.reports
        }


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def spec_record(spec: RunSpec, host, hparams: dict) -> dict[str, Any]:
    d = spec.to_dict()
    d["hparams"] = dict(sorted(hparams.items()))
    d["device"] = resolve_device(spec.device)
    record = {"schema": store.SCHEMA, "name": spec.name, "hash": spec.content_hash(), "variant": spec.variant,
              "spec": d, "overrides": dict(sorted(spec.hparams.items())), "versions": provenance.versions(host),
              "env": provenance.environment(resolve_device(spec.device))}
    if spec.ddp > 1:  # the processes (spec.ddp) and how they talk
        record["ddp"] = {"processes": spec.ddp, "backend": ddp_backend(spec.device)}
    if spec.task != GENERATION:   # the report titles the run's tables with it (api.Task.table)
        record["task_table"] = host.tasks.get(spec.task).table
    return record


RETRYABLE = ("failed", "diverged")   # the statuses --retry-failed trains again


def _log(message: str) -> None:
    """A line on stderr (data flows cli -> sweep -> runner: the runner never calls back up)."""
    print(message, file=sys.stderr, flush=True)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


_failed_observers: set[str] = set()  # plugins whose observer error was already reported in this process


def notify(host, hook: str, **kwargs) -> None:
    """Call each plugin's observer ``hook`` (``ganbench_run_start``, ``ganbench_run_end``) on its own.
    Observers never change a run: an exception is swallowed (the first one of each plugin is logged),
    and random numbers they draw come from a copy of the global stream, which penalties train on."""
    impls = getattr(host.pm.hook, hook).get_hookimpls()
    for plugin in dict.fromkeys(impl.plugin for impl in impls):
        name = host.pm.get_name(plugin) or repr(plugin)
        try:
            with torch.random.fork_rng(devices=[]):
                host.pm.subset_hook_caller(hook, [p for p in host.pm.get_plugins() if p is not plugin])(**kwargs)
        except Exception as exc:  # noqa: BLE001 - whatever an observer does wrong, the run stands
            if name not in _failed_observers:
                _failed_observers.add(name)
                _log(f"observer plugin {name!r} raised in {hook}: {_describe(exc)}; "
                     f"ignored, runs go on (later errors of this plugin are not shown)")


def final_result(rd: store.RunDir, retry_failed: bool = False) -> dict[str, Any] | None:
    """The stored record if it is returned as it is, read without the lock (a record is only ever
    replaced whole); ``None`` when the run needs its lock: to train, to retry, or to set a record aside."""
    with contextlib.suppress(store.UnreadableRecord):
        done = rd.result()
        if done is not None and not (retry_failed and done["status"] in RETRYABLE):
            return done
    return None


def stored_result(rd: store.RunDir, retry_failed: bool = False) -> dict[str, Any] | None:
    """The run's stored record, or ``None`` when it is to be trained (again). Call it holding the run's
    lock: an unreadable record, and with ``retry_failed`` a failed or diverged one, is set aside (the run
    then resumes from its checkpoint as if killed before the end), and only the lock holder moves files."""
    try:
        result = rd.result()
    except store.UnreadableRecord as exc:
        moved = rd.set_aside(store.RESULT, "corrupt")
        _log(f"{exc}; set aside as {moved.name}; computing it again")
        return None
    if result is not None and retry_failed and result["status"] in RETRYABLE:
        moved = rd.set_aside(store.RESULT, "attempt")
        if rd.file("error.txt").exists():
            rd.set_aside("error.txt", "attempt")
        _log(f"{rd.path.name}: {result['status']} before; trying again (--retry-failed; "
             f"the earlier result is kept as {moved.name})")
        return None
    return result


def execute(spec: RunSpec, results_dir: str | Path, host=None, data_root: str | None = None,
            download: bool = False, progress=None, retry_failed: bool = False,
            wait: bool = True) -> dict[str, Any] | None:
    """Run ``spec`` to its end (or return its stored result) and return the ``result.json`` record.

    :param retry_failed: train a run stored as failed or diverged again (its old record is set aside).
    :param wait: when another process holds the run (:meth:`store.RunDir.lock`), wait for it and return
        what it stored; ``False`` returns ``None`` at once instead, so a sweep can train other runs first.
    """
    if host is None:
        from ganbench import plugins
        host = plugins.load()
    rd = store.RunDir(results_dir, spec.dirname)
    done = final_result(rd, retry_failed)
    if done is not None:
        return done
    lock = rd.lock(wait=wait)
    if lock is None:
        return None
    with lock:
        done = stored_result(rd, retry_failed)  # another process may have finished it meanwhile
        if done is not None:
            return done
        rd.remove_stale_temporaries()
        return _execute_locked(spec, rd, results_dir, host, data_root, download, progress)


def _execute_locked(spec: RunSpec, rd: store.RunDir, results_dir, host, data_root, download,
                    progress) -> dict[str, Any]:
    prepare_process()  # a per-process one-off (torch.optim's first import), not this run's cost
    started = time.perf_counter()
    if not rd.file(store.SPEC).exists():
        store.atomic_write_json(rd.file(store.SPEC), spec_record(spec, host, resolve_hparams(host, spec)))
    if spec.ddp > 1:
        result = _train_on_ranks(spec, results_dir, data_root, download)
    else:
        result = _train_recorded(_Run(spec, Path(results_dir), host, data_root, download, progress))
    result = {"schema": store.SCHEMA, **result, "wall_seconds": round(time.perf_counter() - started, 3)}
    store.atomic_write_json(rd.file(store.RESULT), result)
    notify(host, "ganbench_run_end", spec=store.read_json(rd.file(store.SPEC)), result=result, run_dir=str(rd.path))
    return result


def _train_recorded(run: _Run) -> dict[str, Any]:
    """``run.train()``'s result; a divergence or a plugin's failure becomes the result, never an
    exception that ends the sweep."""
    try:
        return run.train()
    except Diverged as exc:
        return {"status": "diverged", "diverged_at": int(exc.args[0]),
                "steps": int(exc.args[0]), "error": f"non-finite loss by step {exc.args[0]}"}
    except Exception as exc:
        if run.writes:
            run.records.save_error(traceback.format_exc())
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return {"status": "failed", "error": message, "diverged_at": None}


# ---------------------------------------------------------------------------------------------------
# One run on several processes (--ddp N): torch's own launcher (what torchrun runs), one rank each.

def _train_on_ranks(spec: RunSpec, results_dir, data_root, download) -> dict[str, Any]:
    """Train ``spec`` on ``spec.ddp`` local processes with ``torch.distributed.launcher.elastic_launch``
    (torchrun's engine, ``--standalone``); rank 0's result is the run's."""
    import uuid

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=spec.ddp, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                          start_method="spawn", monitor_interval=0.2)
    try:
        results = elastic_launch(config, _rank_main)(spec.to_dict(), str(results_dir), data_root, download)
    except ChildFailedError as exc:
        first = next(iter(exc.failures.values()), None)
        why = (first.message if first is not None and first.message else str(exc)).strip().splitlines()
        return {"status": "failed", "error": f"--ddp {spec.ddp}: a rank failed: {why[0] if why else exc}",
                "diverged_at": None}
    except Exception as exc:  # the launcher itself (rendezvous, spawning): this run fails, not the sweep
        return {"status": "failed", "error": f"--ddp {spec.ddp}: could not start the ranks: {_describe(exc)}",
                "diverged_at": None}
    return results[0]


def _rank_main(spec_dict: dict, results_dir: str, data_root, download) -> dict[str, Any]:
    """One rank of a --ddp run, in its own process (the launcher sets RANK, LOCAL_RANK, WORLD_SIZE)."""
    import os

    import torch.distributed as dist

    from ganbench import plugins
    spec = RunSpec.from_dict(spec_dict)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    device = resolve_device(spec.device)
    if device == "cuda":
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    dist.init_process_group(ddp_backend(spec.device))
    try:
        prepare_process()
        run = _Run(spec, Path(results_dir), plugins.load(), data_root, download, None, rank=rank, device=device)
        return _train_recorded(run)
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------------
# The real-data reference row.

def execute_reference(ref: ReferenceSpec, results_dir: str | Path, host=None, data_root: str | None = None,
                      download: bool = False) -> dict[str, Any]:
    """Score held-out real data with the metrics of ``ref`` exactly as :meth:`_Run.finish` scores a
    generator (same sampling path, same N, split "test"), and store it under ``<results>/references``.
    Like :func:`execute`, it never raises for a metric's failure and returns a stored result as is."""
    if host is None:
        from ganbench import plugins
        host = plugins.load()
    rd = store.RunDir(results_dir, ref.dirname, folder=store.REFERENCES)
    done = final_result(rd)
    if done is not None:
        return done
    with rd.lock():  # seconds of work: a second sweep waits for it rather than scoring it twice
        return stored_result(rd) or _score_reference(ref, rd, host, data_root, download)


def _score_reference(ref: ReferenceSpec, rd: store.RunDir, host, data_root, download) -> dict[str, Any]:
    from ganbench.evaluation import SamplingContext, evaluate, to_metric_space

    dataset = host.datasets.get(ref.dataset)(root=data_root, download=download)
    data = dataset.info
    how: list[str] = []

    def sample_fn(n: int, gen: torch.Generator):
        x, y, phrase = dataset.draw(ref.source_split, n, seed=ref.seed)
        how.append(phrase)
        return to_metric_space(x, data), (y if data.num_classes else None)

    pairs = {}
    label = ReferenceSpec.LABEL
    if ref.baseline:
        # the task's baseline in place of a generator: the outputs for the test split's inputs
        task = host.tasks.get(ref.baseline)(host.tasks.get(ref.baseline).defaults)
        label = task.baseline_label

        def outputs(split: str) -> torch.Tensor:
            return to_metric_space(task.baseline(dataset.load_inputs(split)), data)

        def sample_fn(n: int, gen: torch.Generator):  # noqa: F811 - the baseline's samples replace the reals
            out = outputs("test")
            how.append(f"{label} of the first {n} inputs of the test split (cycled)")
            return out[torch.arange(n) % out.shape[0]], None

        pairs = {"paired_fn": lambda split: (outputs(split), dataset.load(split)[0]),
                 "translate_fn": lambda inputs: to_metric_space(task.baseline(inputs), data)}

    started = time.perf_counter()
    # Real data has no encoder, and each target would be compared with itself: metrics that need an
    # encoder, or pairs, have nothing to score here (api.Metric.needs_encoder, needs_pairs); a baseline
    # has pairs.
    metrics = [cls() for cls in (host.metrics.get(name) for name in ref.metrics)
               if cls.supports(data, ref.dataset) is None and not cls.needs_encoder
               and (ref.baseline or not cls.needs_pairs)]
    threads = torch.get_num_threads()
    torch.set_num_threads(ref.threads)
    try:
        with torch.random.fork_rng(devices=[]):
            ctx = SamplingContext(sample_fn, dataset, data, ref.seed, device=resolve_device(ref.device), **pairs)
            values, errors = evaluate(metrics, ctx, "test")
    finally:
        torch.set_num_threads(threads)
    kind = "baseline" if ref.baseline else "reference"
    record = {"schema": store.SCHEMA, "kind": kind, "label": label, "hash": ref.content_hash(),
              "spec": ref.to_dict(), "versions": provenance.versions(host),
              "env": provenance.environment(resolve_device(ref.device))}
    result = {"schema": store.SCHEMA, "status": "completed", "final": as_dict(values), "metric_errors": errors,
              "drawn": sorted(set(how)), "wall_seconds": round(time.perf_counter() - started, 3)}
    store.atomic_write_json(rd.file(store.SPEC), record)
    store.atomic_write_json(rd.file(store.RESULT), result)
    return result


def execute_group(specs: list[RunSpec], results_dir: str | Path, host=None, data_root: str | None = None,
                  download: bool = False, progress=None, retry_failed: bool = False,
                  wait: bool = True, explicit: bool = False) -> list[dict[str, Any] | None]:
    """Run specs that differ only in their seed as one batched computation (:mod:`ganbench.vectorized`),
    one run directory per seed, each exactly as :func:`execute` would store it; return one
    ``result.json`` record per spec, in order (``None`` for a spec another process holds, with
    ``wait=False``, as :func:`execute`). Configurations that cannot be vectorised run through
    :func:`execute`, with the reason logged once. ``explicit``: the group size was asked for
    (``--vectorize-seeds K``), which CUDA needs (:func:`ganbench.vectorized.unsupported`)."""
    from ganbench.vectorized import execute_group as vectorized_group
    return vectorized_group(specs, results_dir, host=host, data_root=data_root, download=download, progress=progress,
                            retry_failed=retry_failed, wait=wait, explicit=explicit)
