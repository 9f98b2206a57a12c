"""K seeds of one configuration trained in one process as one batched computation.

``execute_group(specs, results_dir)`` keeps the contract of :func:`ganbench.runner.execute` for every
spec it is given (specs that differ only in their seed): one run directory per seed with the same
records as a solo run (``spec.json``, ``stats.jsonl``, ``metrics.jsonl``, ``checkpoint.pt``, ``best.pt``,
``samples.npz``, ``result.json``), each returned as its ``result.json`` record. Only the training step
is batched; everything else goes through the runner's own ``_Run`` machinery, one seed at a time.

How a group trains
    Each seed keeps a real :class:`~ganbench.training.Trainer`, built exactly as its solo run builds it
    (same init stream, same optimiser, same hyperparameters). The group stacks the K generators' and the
    K discriminators' parameters into leaf tensors ``[K, ...]`` with one optimiser each (the same class
    and hyperparameters as the seeds' own; elementwise optimisers only, so a stacked update is K solo
    updates). A step replays :meth:`Trainer.step` for the K seeds at once:

    * every random draw happens outside the batched computation, from each seed's own trainer
      (``next_real_batch``, ``sample_latent``; the global RNG of a gradient penalty is swapped in per
      seed), so each seed sees exactly the data order, latents and penalty draws of its solo run;
    * G and D run on ``[K, B, ...]`` through one of three backends: ``grouped`` (``baddbmm`` over the
      stacked weights of a ``Linear``/activation chain; the MLP), ``vmap`` (``torch.func``
      ``functional_call`` + ``vmap``, for architectures that declare ``vectorizable_seeds = True``) or
      ``channels`` (for ``seed_fold = "channels"``, DCGAN: the K networks folded into one of K times
      the channels, convolutions with ``groups=K``, BatchNorm over the K seeds' channels, so each seed
      keeps its own batch statistics; HFTA, Wang et al., 2021, MLSys);
    * the loss (and the penalty) is the plugin's own function, called on each seed's slice of the scores,
      and the K losses are summed for one backward pass (seeds share no parameter, so each seed's
      gradient is its solo gradient).

    Before every evaluation, checkpoint or final record the stacked state is written back into the
    seeds' trainers (weights and optimiser state), so the runner evaluates, selects and checkpoints each
    seed with its solo code. Checkpoints are solo checkpoints: a group resumes from them, and so can any
    seed on its own.

Equivalence with solo runs (``tests/test_vectorized.py``)
    On this CPU (MKL, 1 and 2 threads) the ``grouped`` backend reproduces solo runs bit for bit for all
    ten supported losses, penalties included (per-step losses, weights, ``weights_hash``, metrics): a
    ``baddbmm`` slice computes what the solo ``Linear``'s ``addmm`` computes, forward and backward, and a
    one-output layer (the discriminator's head), where the solo ``addmm`` becomes a matrix-vector
    product, runs the solo ``F.linear`` seed by seed for that reason. The documented tolerance, which the
    tests assert, leaves room for BLAS builds that order sums differently: per-step losses within
    ``LOSS_RTOL`` (1e-4) relative over 100 fp32 steps, final metrics within ``METRIC_RTOL`` (1e-3)
    relative. ``vmap`` differs from solo in the one-output layers (measured <= 2e-7 relative on the
    losses after 100 steps).

    The ``channels`` fold runs other convolution kernels than the solo run (grouped ones), and in a
    BatchNorm network fp32 round-off grows with every step whatever computes it: two solo runs that
    differ only in their convolution kernels (oneDNN on and off) drift apart as fast as the fold drifts
    from solo (measured here, DCGAN-28 at ngf = ndf = 8, hinge: 9e-6 relative on loss_g after 10 steps
    and 2.4e-3 after 30, both). So the documented tolerance is: losses within ``LOSS_RTOL`` of the step's
    loss scale for the first ``FOLD_STEPS`` (10) steps; after that, losses, weights and BatchNorm
    statistics within ``FOLD_DRIFT_FACTOR`` (4) times the solo run's own drift on other kernels;
    random streams and BatchNorm's counters exact. The ``FOLD_STEPS`` part is DCGAN-28's (what the
    tests train); deeper BatchNorm stacks amplify round-off sooner, the fold and the solo run alike:
    at 64 px (ngf = ndf = 8, batch 8, hinge) two solo runs on different kernels were 1.2e-3 apart in
    loss_d after 4 steps and the fold 3.7e-4 from solo, so there only the drift bound holds.

Divergence
    A seed whose loss goes non-finite is treated as its solo run treats it: at the next stats step its
    ``result.json`` says ``diverged`` (same fields), and the group goes on without it (its slice is
    dropped from the stacked state; seeds never mix, so its NaNs cannot reach the others before that).

What runs solo instead
    :func:`unsupported` is the rule set, decided from the spec and the plugins' declarations before
    anything trains: techniques, devices other than the CPU (CUDA vectorises when the group size is
    given, not on ``auto``), precisions other than fp32, ``--compile``, seconds
    budgets (when a run stops would depend on how it was trained), conditional architectures,
    architectures with no vectorised form (BatchNorm and spectral norm need per-seed batch statistics and
    power iterations: DCGAN under vmap measured 0.65x), the channels fold on the CPU under ``auto``
    (measured slower than the solo loop: grouped convolutions), and losses not known to be per-seed
    functions of the scores. After the trainers are built, :func:`structural_reason` checks what the declarations
    promise (no buffers, no parametrizations, an elementwise optimiser with one parameter group). Either
    way the runs go to :func:`ganbench.runner.execute` and the reason is logged once to stderr:
    ``vectorize-seeds: falling back to solo runs for <variant>: <reason>``.

    Why BatchNorm folds into channels rather than going under ``vmap`` (measured on a 2-core Xeon,
    fp32, DCGAN-28, K = 4, gradients against a float64 solo reference): under ``vmap`` with stacked
    running statistics one seed's generator gradient was off by 1.2e-3 relative where the solo run's is
    5.7e-7 (exact in float64: a precision loss of vmap's batch-norm path), which misses ``LOSS_RTOL``;
    the fold keeps solo precision (2.0e-7). Its speed on that CPU: a whole step of K = 4 DCGAN-28
    seeds (ngf = ndf = 64, batch 64) at 0.79x the solo loop on 1 thread and 0.85x on 2 (oneDNN's
    grouped convolutions are slower than its dense ones), hence solo under ``auto`` there; on a GPU,
    where small convolutional steps are bound by kernel launches, it is what
    ``benchmarks/gpu_session.sh`` measures.

What a record says
    ``result.json`` gets ``"training": {"mode": "vectorized", "backend", "seeds", "group",
    "time_attribution"}``; nothing enters the hashed :class:`RunSpec`, so a vectorised run and a solo run
    of one spec share a directory and are interchangeable. ``train_seconds`` (hence img/s) and
    ``wall_seconds`` split each shared group step evenly among the seeds in it; per-seed work
    (evaluation, checkpoints, final metrics) is charged to its seed. ``peak_memory_bytes`` is the
    group's (the process holds all K seeds).
"""

from __future__ import annotations

import contextlib
import copy
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganbench import runner, store, training
from ganbench.spec import RunSpec

MAX_GROUP = 8          # seeds per group when --vectorize-seeds is auto
LOSS_RTOL = 1e-4       # documented: per-step losses of a seed vs its solo run, relative, 100 fp32 steps
FOLD_STEPS = 10        # documented: steps within LOSS_RTOL for the channels fold (BatchNorm nets; see above)
FOLD_DRIFT_FACTOR = 4  # documented: the fold vs solo, at most this times solo vs solo on other convolution kernels
METRIC_RTOL = 1e-3     # documented: final metric values of a seed vs its solo run, relative

# The rule set is declared by the plugins: ``vectorizable_seeds = True`` on an architecture or a loss
# class (see ganbench.api for what each promises); structural_reason() checks the promise on one built
# trainer before anything trains.
ELEMENTWISE_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop, torch.optim.SGD)
_ELEMENTWISE_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)

_logged: set[tuple[str, str]] = set()


def log_fallback(variant: str, reason: str) -> None:
    """Say once per process why ``variant`` runs solo."""
    if (variant, reason) not in _logged:
        _logged.add((variant, reason))
        print(f"vectorize-seeds: falling back to solo runs for {variant}: {reason}", file=sys.stderr, flush=True)


def unsupported(host, spec: RunSpec, explicit: bool = False) -> str | None:
    """Why the seeds of ``spec``'s configuration cannot train as one batched computation (``None``: they can).

    ``explicit``: the group size was asked for (``--vectorize-seeds K``), not ``auto``. On CUDA only an
    explicit size vectorises: the path is device-generic and its tests run there
    (``tests/test_vectorized.py -k cuda``), but it has not yet been measured on a GPU, so ``auto`` keeps
    the solo runs that have been."""
    arch = host.architectures.get(spec.arch)
    loss = host.losses.get(spec.loss)
    for name in spec.techniques:
        if not host.techniques.get(name).vectorizable_seeds:
            return (f"technique {name} hooks into every step of one trainer and is not declared "
                    f"vectorizable_seeds")
    if spec.ddp > 1:
        return f"a --ddp {spec.ddp} run trains on processes of its own"
    device = runner.resolve_device(spec.device)
    if device.startswith("cuda") and not explicit:
        return (f"auto vectorises CPU runs only: the {device} path is not yet measured on a GPU "
                f"(--vectorize-seeds K opts in)")
    if device != "cpu" and not device.startswith("cuda"):
        return f"only the CPU and CUDA paths are vectorised (device {device})"
    if spec.precision != "fp32":
        return f"precision {spec.precision} is not vectorised (fp32 only)"
    if spec.compile:
        return "--compile is not vectorised"
    if spec.budget.kind == "seconds":
        return "a seconds budget would stop each seed at a step that depends on how it is trained"
    if arch.conditional:
        return f"{arch.name} is conditional (labels are not vectorised)"
    if arch.encoder:
        return f"{arch.name}'s encoder and pair discriminator are not vectorised"
    if host.tasks.get(spec.task).generator_input != "noise":
        return f"task {spec.task}: generators given an input (paired data) are not vectorised"
    if not arch.vectorizable_seeds and arch.seed_fold != "channels":
        return (f"{arch.name} declares no vectorised form (BatchNorm and spectral norm need per-seed "
                f"statistics; opt in with vectorizable_seeds = True or seed_fold = \"channels\")")
    if not arch.vectorizable_seeds and device == "cpu" and not explicit:
        return (f"auto keeps {arch.name} solo on the CPU, where its channels fold measured slower than the "
                f"solo loop (--vectorize-seeds K opts in)")
    if not loss.vectorizable_seeds:
        return f"loss {loss.name} is not declared a per-seed function of the scores (vectorizable_seeds)"
    return None


def structural_reason(trainer, fold: str | None = None) -> str | None:
    """What the declarations promise, checked on one built trainer before anything trains; ``fold``:
    the architecture's ``seed_fold``."""
    for role, module in (("generator", trainer.G), ("discriminator", trainer.D)):
        if fold == "channels":
            why = fold_reason(module)
            if why:
                return f"the {role} does not fold into channels: {why}"
        elif any(True for _ in module.buffers()):
            return f"the {role} has buffers (BatchNorm statistics or similar)"
        if any(hasattr(m, "parametrizations") for m in module.modules()):
            return f"the {role} has parametrizations (spectral norm or similar)"
        if any(p.dim() == 0 for p in module.parameters()):
            return f"the {role} has a 0-dim parameter"
    for role, opt in (("generator", trainer.opt_g), ("discriminator", trainer.opt_d)):
        if type(opt) not in ELEMENTWISE_OPTIMIZERS:
            return f"the {role} optimiser {type(opt).__name__} is not known to be elementwise"
        if len(opt.param_groups) != 1:
            return f"the {role} optimiser has {len(opt.param_groups)} parameter groups"
    if trainer.scaler.is_enabled():
        return "a gradient scaler is in use"
    if trainer.train_y is not None and trainer.architecture.conditional:
        return "labels reach the networks"
    return None


# ---------------------------------------------------------------------------------------------------
# Stacked networks: K parameter sets, inputs [K, B, ...] -> outputs [K, B, ...].

def _stack_params(modules: Sequence[nn.Module]) -> dict[str, torch.Tensor]:
    names = [name for name, _ in modules[0].named_parameters()]
    per = [dict(m.named_parameters()) for m in modules]
    return {name: torch.stack([p[name].detach() for p in per]).requires_grad_(True) for name in names}


def _stack_buffers(modules: Sequence[nn.Module]) -> dict[str, torch.Tensor]:
    per = [dict(m.named_buffers()) for m in modules]
    return {name: torch.stack([b[name] for b in per]) for name in per[0]}


def _stacked_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear`` for K seeds: ``x [K, B, in]``, ``weight [K, out, in]``, ``bias [K, out]``."""
    if weight.shape[1] == 1:
        # On the CPU a solo Linear with one output runs as a matrix-vector product, whose sums are
        # ordered differently from a batched matrix product's (and so are its double-backward's, for
        # gradient penalties): run the solo op itself, seed by seed. unbind rather than x[k]: its backward
        # is one stack, where K selects would each zero-fill a [K, ...] tensor.
        xs, ws = x.unbind(0), weight.unbind(0)
        bs = bias.unbind(0) if bias is not None else [None] * len(ws)
        return torch.stack([F.linear(xk, wk, bk) for xk, wk, bk in zip(xs, ws, bs)])
    if bias is None:
        return torch.bmm(x, weight.transpose(1, 2))
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


class _Chain:
    """An ``nn.Sequential`` (or a lone layer) of ``Linear`` layers and elementwise activations, replayed
    on stacked parameters named as in the owning module (``prefix`` + child name)."""

    def __init__(self, module: nn.Module, prefix: str):
        children = list(module.named_children()) if isinstance(module, nn.Sequential) else [("", module)]
        self.ops: list[tuple[str, Any]] = []
        for name, child in children:
            key = f"{prefix}{name}." if name else prefix
            if type(child) is nn.Linear:
                self.ops.append(("linear", (f"{key}weight", f"{key}bias" if child.bias is not None else None)))
            elif type(child) in _ELEMENTWISE_ACTIVATIONS:
                self.ops.append(("act", copy.deepcopy(child)))
            else:
                raise TypeError(f"{type(child).__name__} in a grouped chain")

    @staticmethod
    def accepts(module: nn.Module) -> bool:
        children = list(module.children()) if isinstance(module, nn.Sequential) else [module]
        return all(type(c) is nn.Linear or type(c) in _ELEMENTWISE_ACTIVATIONS for c in children)

    def __call__(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        for kind, op in self.ops:
            if kind == "linear":
                w, b = op
                x = _stacked_linear(x, params[w], params[b] if b is not None else None)
            else:
                x = op(x)
        return x


def _mlp_forms(G: nn.Module, D: nn.Module):
    """Grouped forward functions for the built-in MLP, mirroring its ``forward`` methods; ``None`` if
    the modules are not the plugin's, or hold anything but Linear layers and elementwise activations."""
    try:
        from ganbench_plugins.archs import mlp
    except ImportError:
        return None
    if type(G) is not mlp.Generator or type(D) is not mlp.Discriminator:
        return None
    if not (_Chain.accepts(G.net) and _Chain.accepts(D.body) and _Chain.accepts(D.head)):
        return None
    net, body, head = _Chain(G.net, "net."), _Chain(D.body, "body."), _Chain(D.head, "head.")
    shape = tuple(G.shape)

    def generate(params, z):       # Generator.forward: net(z).view(B, *shape)
        return net(params, z).view(z.shape[0], z.shape[1], *shape)

    def score(params, x):          # Discriminator.forward: head(body(x.flatten(1))).squeeze(1)
        return head(params, body(params, x.flatten(2))).squeeze(-1)

    return generate, score


class StackedNet:
    """K copies of one network: ``params`` (stacked leaves), ``forward(x [K, B, ...])`` and
    ``members()``, K modules each computing one seed alone (for gradient penalties) on views of the
    same leaves."""

    def __init__(self, params: dict[str, torch.Tensor], forward: Callable, member_forward: Callable,
                 buffers: dict[str, torch.Tensor] | None = None):
        self.params = params
        self.buffers = buffers or {}   # stacked [K, ...] (BatchNorm statistics), updated in place
        self._forward = forward
        self._member_forward = member_forward

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self.params, x)

    def parameters(self):
        return iter(self.params.values())

    def clone(self) -> StackedNet:
        """An independent copy of the K networks (new leaves, the same forwards): a look-ahead D."""
        params = {name: p.detach().clone().requires_grad_(p.requires_grad) for name, p in self.params.items()}
        buffers = {name: b.clone() for name, b in self.buffers.items()}
        return StackedNet(params, self._forward, self._member_forward, buffers)

    def members(self) -> list[nn.Module]:
        per_seed = {name: p.unbind(0) for name, p in self.params.items()}
        k = len(next(iter(per_seed.values())))
        extra = [{_MEMBER: i} if self.buffers else {} for i in range(k)]
        return [_Member(self._member_forward, {**{name: views[i] for name, views in per_seed.items()}, **extra[i]})
                for i in range(k)]


_MEMBER = "<seed index>"   # a member's own position, for forwards that index stacked buffers


class _Member(nn.Module):
    """One seed of a :class:`StackedNet` as a module ``(x, labels) -> scores``; gradients reach the
    stacked leaves through the views."""

    def __init__(self, forward: Callable, params: dict[str, torch.Tensor]):
        super().__init__()
        self._forward = forward
        self._params = params

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self._forward(self._params, x)


def grouped_nets(modules_g: Sequence[nn.Module], modules_d: Sequence[nn.Module]
                 ) -> tuple[StackedNet, StackedNet] | None:
    forms = _mlp_forms(modules_g[0], modules_d[0])
    if forms is None:
        return None
    generate, score = forms

    def member(fn):
        def run(params, x):
            return fn({n: p.unsqueeze(0) for n, p in params.items()}, x.unsqueeze(0))[0]
        return run

    return (StackedNet(_stack_params(modules_g), generate, member(generate)),
            StackedNet(_stack_params(modules_d), score, member(score)))


def vmap_nets(modules_g: Sequence[nn.Module], modules_d: Sequence[nn.Module]) -> tuple[StackedNet, StackedNet]:
    from torch.func import functional_call, vmap

    def make(modules):
        base = copy.deepcopy(modules[0]).to("meta")
        call = lambda p, x: functional_call(base, p, (x, None))  # noqa: E731
        batched = vmap(call)

        return StackedNet(_stack_params(modules), batched, call)

    return make(modules_g), make(modules_d)


_FOLDED_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def fold_reason(module: nn.Module) -> str | None:
    """Why K copies of ``module`` cannot fold into one of K times the channels (``None``: they can).
    The forward is the architecture's promise (``Architecture.seed_fold``); the layers are checked."""
    if any(True for _ in module.parameters(recurse=False)) or any(True for _ in module.buffers(recurse=False)):
        return f"{type(module).__name__} holds tensors of its own outside a layer"
    for name, m in module.named_modules():
        if m is module or type(m) in _CONTAINERS or type(m) in _ELEMENTWISE_ACTIVATIONS:
            continue
        if type(m) not in _FOLDED_LAYERS:
            return f"layer {name} ({type(m).__name__}) has no channels fold"
        if isinstance(m, nn.Conv2d) and m.padding_mode != "zeros":
            return f"layer {name}: padding mode {m.padding_mode!r}"
        if isinstance(m, nn.BatchNorm2d) and (not m.track_running_stats or m.momentum is None):
            return f"layer {name}: BatchNorm without running statistics or with a cumulative average"
    return None


def _folded_copy(module: nn.Module, k: int) -> nn.Module:
    """A meta-device copy of ``module`` whose layers take K seeds' channels side by side: convolutions
    with K times the channels and groups (weights ``[K*out, in/groups, ...]``, the K seeds' weights
    concatenated), BatchNorm over K times the channels (each seed's own statistics)."""
    folded = copy.deepcopy(module).to("meta")
    for m in folded.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.in_channels, m.out_channels, m.groups = m.in_channels * k, m.out_channels * k, m.groups * k
        elif isinstance(m, nn.BatchNorm2d):
            m.num_features *= k
    return folded.train()


def channel_nets(modules_g: Sequence[nn.Module], modules_d: Sequence[nn.Module]
                 ) -> tuple[StackedNet, StackedNet] | None:
    """G and D with the seeds folded into the channels (``Architecture.seed_fold == "channels"``).

    The stacked leaves stay ``[K, ...]`` as in the other backends; a forward views them as the folded
    layers' ``[K*out, ...]`` (a free reshape), runs the architecture's own forward on the folded copy,
    and moves the seeds between the batch-first layouts: ``[K, B, C, ...]`` in and out, ``[B, K*C, ...]``
    inside. BatchNorm's running statistics are stacked buffers ``[K, C]``, updated in place through the
    same views; its step counter (read by no computation when a momentum is set, which
    :func:`fold_reason` requires) is counted per seed."""
    if fold_reason(modules_g[0]) or fold_reason(modules_d[0]):
        return None
    from torch.func import functional_call
    k = len(modules_g)

    def make(modules):
        solo = copy.deepcopy(modules[0]).to("meta").train()
        folded = _folded_copy(modules[0], k)
        params, buffers = _stack_params(modules), _stack_buffers(modules)
        counters = [n for n, b in buffers.items() if b.dim() == 1]   # 0-dim per seed, stacked: [K]

        def forward(params, x):
            state = {n: p.reshape(-1, *p.shape[2:]) for n, p in params.items()}
            scratch = {n: torch.zeros((), dtype=buffers[n].dtype, device=buffers[n].device) for n in counters}
            state.update({n: b.reshape(-1, *b.shape[2:]) for n, b in buffers.items() if n not in scratch})
            batch = x.shape[1]
            out = functional_call(folded, {**state, **scratch}, (x.transpose(0, 1).reshape(batch, -1, *x.shape[3:]),))
            with torch.no_grad():
                for n, counted in scratch.items():
                    buffers[n] += counted
            per_seed = (out.shape[1] // k, *out.shape[2:]) if out.dim() > 1 else ()
            return out.reshape(batch, k, -1).transpose(0, 1).reshape(k, batch, *per_seed)

        def member(params_k, x):   # one seed alone (gradient penalties), on views of the stacked tensors
            index = params_k[_MEMBER]
            state = {n: p for n, p in params_k.items() if n != _MEMBER}
            state.update({n: b[index] for n, b in buffers.items()})
            return functional_call(solo, state, (x, None))

        return StackedNet(params, forward, member, buffers)

    return make(modules_g), make(modules_d)


BACKENDS = {"grouped": grouped_nets, "vmap": vmap_nets, "channels": channel_nets}


# ---------------------------------------------------------------------------------------------------
# The group: K trainers, one batched step.

def _stacked_optimizer(template: torch.optim.Optimizer, per_seed: Sequence[torch.optim.Optimizer],
                       modules: Sequence[nn.Module], params: dict[str, torch.Tensor]) -> torch.optim.Optimizer:
    """An optimiser of ``template``'s class and hyperparameters over the stacked leaves, its state the
    seeds' states stacked (empty before the first step, as theirs)."""
    group = {k: v for k, v in template.param_groups[0].items() if k != "params"}
    opt = type(template)(list(params.values()), **group)
    seed_params = [dict(m.named_parameters()) for m in modules]
    for name, stacked in params.items():
        states = [o.state.get(sp[name]) for o, sp in zip(per_seed, seed_params)]
        if not states[0]:
            if any(states):
                raise ValueError("seeds of one group at different optimiser steps")
            continue
        merged = {}
        for key, value in states[0].items():
            if torch.is_tensor(value) and value.shape == seed_params[0][name].shape:
                merged[key] = torch.stack([s[key] for s in states]).clone()
            else:
                if torch.is_tensor(value):
                    if not all(torch.equal(s[key], value) for s in states):
                        raise ValueError(f"seeds of one group differ in optimiser state {key!r}")
                    value = value.clone()
                merged[key] = value
        opt.state[stacked] = merged
    return opt


def _cloned_optimizer(opt: torch.optim.Optimizer, old: StackedNet, new: StackedNet) -> torch.optim.Optimizer:
    """``opt`` (over ``old``'s leaves) for ``new``'s leaves, its state copied: a look-ahead's optimiser."""
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    clone = type(opt)(list(new.params.values()), **group)
    for name, p in old.params.items():
        state = opt.state.get(p)
        if state:
            clone.state[new.params[name]] = {k: v.clone() if torch.is_tensor(v) else copy.deepcopy(v)
                                             for k, v in state.items()}
    return clone


class _GroupStepContext:
    """The part of :class:`ganbench.api.StepContext` a technique declaring ``vectorizable_seeds`` may use,
    over a seed group: the networks it clones and updates hold all K seeds."""

    def __init__(self, group: SeedGroup):
        self._group = group

    @property
    def step(self) -> int:
        return self._group.trainers[0].steps_done

    @property
    def hparams(self):
        return self._group.trainers[0].hparams

    def clone_discriminator(self) -> tuple[StackedNet, torch.optim.Optimizer]:
        D = self._group.D.clone()
        return D, _cloned_optimizer(self._group.opt_d, self._group.D, D)

    def discriminator_update(self, discriminator: StackedNet, optimizer: torch.optim.Optimizer) -> torch.Tensor:
        return self._group.discriminator_update(D=discriminator, opt=optimizer)[0]


def _write_optimizer(stacked_opt: torch.optim.Optimizer, params: dict[str, torch.Tensor], k: int,
                     opt: torch.optim.Optimizer, module: nn.Module) -> None:
    own = dict(module.named_parameters())
    for name, stacked in params.items():
        state = stacked_opt.state.get(stacked)
        if not state:
            continue
        opt.state[own[name]] = {
            key: (value[k].clone() if torch.is_tensor(value) and value.shape == stacked.shape
                  else value.clone() if torch.is_tensor(value) else value)
            for key, value in state.items()}


class SeedGroup:
    """The K trainers of one group with their G and D parameters stacked.

    ``step()`` is :meth:`Trainer.step` for all K seeds (same draws, same order, same losses); it
    returns per-seed ``loss_d`` and ``loss_g`` of shape ``[K]``. ``write_back()`` copies the stacked
    weights and optimiser state into the trainers. Each seed's penalty draws from its own trainer's
    ``penalty_rng``; ``global_rng[k]`` is seed k's global torch RNG state, swapped in around its penalty
    all the same, so that a penalty which breaks the contract and draws from the global RNG still
    draws what its solo run would."""

    def __init__(self, trainers: Sequence, global_rng: Sequence[torch.Tensor], backend: str = "grouped"):
        self.trainers = list(trainers)
        self.global_rng = list(global_rng)
        self.backend = backend
        first = self.trainers[0]
        self.loss = first.loss
        self.n_critic = first.n_critic
        self.batch_size = first.batch_size
        self.has_penalty = _has_penalty(first.loss)
        # Protocol option of the trainer (hparam): the G update scores the last D update's fakes.
        self.reuse_fake = bool(getattr(first, "reuse_fake_for_generator", False))
        # Techniques declaring vectorizable_seeds keep no state: the first seed's instances serve all.
        self.techniques = list(first.techniques)
        nets = BACKENDS[backend]([t.G for t in self.trainers], [t.D for t in self.trainers])
        if nets is None:
            raise ValueError(f"backend {backend!r} does not apply to {type(first.G).__name__}")
        self.G, self.D = nets
        self.opt_g = _stacked_optimizer(first.opt_g, [t.opt_g for t in self.trainers],
                                        [t.G for t in self.trainers], self.G.params)
        self.opt_d = _stacked_optimizer(first.opt_d, [t.opt_d for t in self.trainers],
                                        [t.D for t in self.trainers], self.D.params)

    @property
    def k(self) -> int:
        return len(self.trainers)

    def _draw(self, need_latents: bool = True, n: int | None = None):
        reals, zs = [], []
        for t in self.trainers:
            real, _ = t.next_real_batch()
            reals.append(real)
            if need_latents:
                z, _ = t.sample_latent(real.shape[0] if n is None else n)
                zs.append(z)
        return torch.stack(reals), (torch.stack(zs) if need_latents else None)

    def discriminator_update(self, keep_fake: bool = False, D: StackedNet | None = None,
                             opt: torch.optim.Optimizer | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One discriminator update of every seed; ``(losses [K], kept)``, ``kept`` the fakes still
        attached to G's graph when ``keep_fake`` (``reuse_fake_for_generator``), else ``None``.
        ``D``/``opt``: a look-ahead copy to update instead of the group's own (unrolled D)."""
        D, opt = (self.D, self.opt_d) if D is None else (D, opt)
        real, z = self._draw()
        kept = None
        if keep_fake:
            kept = self.G(z).float()
            fake = kept.detach()
        else:
            with torch.no_grad():
                fake = self.G(z).float()
        real_scores = D(real).float().reshape(self.k, -1)
        fake_scores = D(fake).float().reshape(self.k, -1)
        losses = []
        lead = self.trainers[0]
        members = D.members() if self.has_penalty and lead.steps_done % lead.penalty_every == 0 else None
        # Seed by seed through unbind (one stack in the backward pass; x[k] would cost K zero-filled copies).
        per_seed = zip(real_scores.unbind(0), fake_scores.unbind(0), real.unbind(0), fake.unbind(0))
        for k, (rs, fs, r, f) in enumerate(per_seed):
            loss = self.loss.discriminator_loss(rs, fs)
            if members is not None:
                with _global_rng(self.global_rng, k):
                    trainer = self.trainers[k]
                    penalty = trainer.penalty(members[k], r, f, None, trainer.steps_done)
                if penalty is not None:
                    loss = loss + penalty
            losses.append(loss)
        losses = torch.stack(losses)
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        opt.step()
        self.loss.after_discriminator_step(D)
        return losses.detach(), kept

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        kept = None
        for i in range(self.n_critic):
            loss_d, kept = self.discriminator_update(keep_fake=self.reuse_fake and i == self.n_critic - 1)
        real = None
        if self.loss.needs_real_for_generator:
            real, _ = self._draw(need_latents=False)
        D_for_g = self.D
        for t in self.techniques:   # in the solo trainer's order: after the reals, before the latents
            D_for_g = t.discriminator_for_generator_step(_GroupStepContext(self)) or D_for_g
        if kept is not None:
            fake = kept
        else:
            zs = [t.sample_latent(real.shape[1] if real is not None else self.batch_size)[0] for t in self.trainers]
            fake = self.G(torch.stack(zs)).float()
        fake_scores = D_for_g(fake).float().reshape(self.k, -1)
        real_scores = D_for_g(real).float().reshape(self.k, -1) if real is not None else None
        reals = real_scores.unbind(0) if real_scores is not None else [None] * self.k
        losses = torch.stack([self.loss.generator_loss(fs, rs) for fs, rs in zip(fake_scores.unbind(0), reals)])
        self.opt_g.zero_grad(set_to_none=True)
        losses.sum().backward(inputs=list(self.G.params.values()))  # into G only, as the trainer does
        self.opt_g.step()
        for t in self.trainers:
            t.steps_done += 1
        return loss_d, losses.detach()

    @torch.no_grad()
    def write_back(self) -> None:
        for k, t in enumerate(self.trainers):
            for net, module, opt, stacked_opt in ((self.G, t.G, t.opt_g, self.opt_g),
                                                  (self.D, t.D, t.opt_d, self.opt_d)):
                own = dict(module.named_parameters())
                for name, stacked in net.params.items():
                    own[name].copy_(stacked[k])
                own_buffers = dict(module.named_buffers())
                for name, stacked in net.buffers.items():
                    own_buffers[name].copy_(stacked[k])
                _write_optimizer(stacked_opt, net.params, k, opt, module)

    def without(self, drop: Sequence[int]) -> SeedGroup | None:
        """The group minus the seeds at ``drop`` (their trainers are left as they are)."""
        keep = [k for k in range(self.k) if k not in set(drop)]
        if not keep:
            return None
        self.write_back()
        return SeedGroup([self.trainers[k] for k in keep], [self.global_rng[k] for k in keep], self.backend)


def _has_penalty(loss) -> bool:
    from ganbench.api import Loss
    return type(loss).penalty is not Loss.penalty


@contextlib.contextmanager
def _global_rng(states: list[torch.Tensor], k: int):
    """Seed k's global RNG state in place for the duration (its penalty draws), saved back after."""
    outer = torch.get_rng_state()
    torch.set_rng_state(states[k])
    try:
        yield
    finally:
        states[k] = torch.get_rng_state()
        torch.set_rng_state(outer)


# ---------------------------------------------------------------------------------------------------
# Executing a group: the runner's records, one directory per seed.

class _Seed:
    """One seed of a group: its ``runner._Run`` and what the group adds (time charged, result)."""

    def __init__(self, index: int, spec: RunSpec, run):
        self.index = index          # position in the caller's list of specs
        self.spec = spec
        self.run = run
        self.wall = 0.0             # seconds charged to this seed (its wall_seconds)
        self.global_rng: torch.Tensor | None = None
        self.resumed = False
        self.result: dict | None = None


def group_key(spec: RunSpec) -> str:
    """Specs with equal keys differ only in their seed (``study`` is a label, as in the content hash)."""
    import dataclasses
    return dataclasses.replace(spec, seed=0, study="").dirname


def _failure(seed: _Seed) -> dict:
    """What :func:`runner.execute` records for an exception (called inside ``except``)."""
    exc = sys.exc_info()[1]
    seed.run.records.save_error(traceback.format_exc())
    return {"status": "failed", "error": f"{type(exc).__name__}: {exc}".splitlines()[0], "diverged_at": None}


def _diverged(step: int) -> dict:
    return {"status": "diverged", "diverged_at": step, "steps": step, "error": f"non-finite loss by step {step}"}


def _store(seed: _Seed, result: dict, host, training: dict | None) -> None:
    """Write ``result.json`` as :func:`runner.execute` does, then tell the observers."""
    rd = seed.run.rd
    result = {"schema": store.SCHEMA, **result, "wall_seconds": round(seed.wall, 3)}
    if training is not None:
        result["training"] = training
    store.atomic_write_json(rd.file(store.RESULT), result)
    runner.notify(host, "ganbench_run_end", spec=store.read_json(rd.file(store.SPEC)), result=result,
                  run_dir=str(rd.path))
    seed.result = result


def _setup(seed: _Seed, host) -> None:
    """The solo run's set-up (``_Run.setup``: trainer, step cost, budget, resume) and the global RNG
    its steps would draw from, which the group keeps per seed."""
    seed.resumed = seed.run.setup()
    seed.global_rng = torch.get_rng_state()


def execute_group(specs: Sequence[RunSpec], results_dir: str | Path, host=None, data_root: str | None = None,
                  download: bool = False, progress=None, backend: str = "auto", retry_failed: bool = False,
                  wait: bool = True, explicit: bool = False) -> list[dict[str, Any] | None]:
    """Run ``specs`` (equal but for their seeds) as one vectorised group; return one result per spec,
    in order, each the ``result.json`` record that spec's run directory holds.

    Specs already finished are returned as stored. Unsupported configurations (:func:`unsupported`,
    then :func:`structural_reason` on the built trainers, before any step) run solo through
    :func:`runner.execute`, with the reason logged once. ``backend``: ``grouped``, ``vmap``, ``channels`` or
    ``auto`` (channels for an architecture declaring ``seed_fold = "channels"``, else grouped where it
    applies, else vmap). ``retry_failed`` and ``wait`` are :func:`runner.execute`'s:
    the group trains the seeds whose locks it holds, and with ``wait=False`` a seed another process
    holds gets ``None``. ``explicit``: the group size was asked for (:func:`unsupported`)."""
    if host is None:
        from ganbench import plugins
        host = plugins.load()
    specs = list(specs)
    if len({group_key(s) for s in specs}) > 1:
        raise ValueError("execute_group takes specs that differ only in their seed")
    if len({s.seed for s in specs}) != len(specs):
        raise ValueError("execute_group takes each seed once")
    results: dict[int, dict | None] = {}

    def solo(i: int) -> None:
        results[i] = runner.execute(specs[i], results_dir, host=host, data_root=data_root, download=download,
                                    progress=progress, retry_failed=retry_failed, wait=wait)

    todo = []
    for i, spec in enumerate(specs):
        results[i] = runner.final_result(store.RunDir(results_dir, spec.dirname), retry_failed)
        if results[i] is None:
            todo.append(i)
    reason = unsupported(host, specs[0], explicit) if specs else None
    if reason:
        log_fallback(specs[0].variant, reason)
    if reason or len(todo) < 2:
        for i in todo:
            solo(i)
        return [results[i] for i in range(len(specs))]

    locks: dict[int, store.RunLock] = {}
    try:
        # One order (by directory) for every process: a waiting group never waits in a cycle.
        for i in sorted(todo, key=lambda i: specs[i].dirname):
            rd = store.RunDir(results_dir, specs[i].dirname)
            lock = rd.lock(wait=wait)
            if lock is None:
                results[i] = None  # another process is training it
                continue
            done = runner.stored_result(rd, retry_failed)
            if done is not None:
                lock.release()
                results[i] = done
                continue
            locks[i] = lock
            rd.remove_stale_temporaries()
        todo = [i for i in todo if i in locks]
        if len(todo) < 2:
            for i in todo:
                locks.pop(i).release()  # execute takes it again
                solo(i)
            return [results[i] for i in range(len(specs))]

        lead = specs[todo[0]]
        prepare = getattr(training, "prepare_process", None)  # as execute does: a per-process one-off, no run's cost
        if prepare is not None:
            prepare()
        torch.set_num_threads(lead.threads)
        runner._reset_peak_memory(runner.resolve_device(lead.device))
        seeds: list[_Seed] = []
        for i in todo:
            started = time.perf_counter()
            spec = specs[i]
            rd = store.RunDir(results_dir, spec.dirname)
            rd.path.mkdir(parents=True, exist_ok=True)
            seed = _Seed(i, spec, runner._Run(spec, Path(results_dir), host, data_root, download, None))
            if not rd.file(store.SPEC).exists():
                store.atomic_write_json(rd.file(store.SPEC), runner.spec_record(spec, host, seed.run.hparams))
            try:
                _setup(seed, host)
            except Exception:
                seed.wall += time.perf_counter() - started
                _store(seed, _failure(seed), host, None)
                results[i] = seed.result
                continue
            seed.wall += time.perf_counter() - started
            seeds.append(seed)

        if seeds:
            chosen, why = choose_backend(seeds[0].run.trainer, backend, host.architectures.get(lead.arch).seed_fold)
            if why:
                # A declared rule, checked before the first step: nothing has trained or been hooked yet.
                log_fallback(lead.variant, why)
                for seed in seeds:
                    locks.pop(seed.index).release()  # execute takes it again
                    solo(seed.index)
                seeds = []
            # Seeds resumed at different points train in separate groups, each from its own checkpoint.
            parts: dict[tuple, list[_Seed]] = {}
            for seed in seeds:
                t = seed.run.trainer
                parts.setdefault((t.steps_done, t.batches_drawn, seed.run.max_steps), []).append(seed)
            for part in parts.values():
                for seed in part:
                    if not seed.resumed:
                        runner.notify(host, "ganbench_run_start", spec=store.read_json(seed.run.rd.file(store.SPEC)),
                                      run_dir=str(seed.run.rd.path))
                _train(part, host, chosen, progress)
                for seed in part:
                    results[seed.index] = seed.result
    finally:
        for lock in locks.values():
            lock.release()  # idempotent: seeds that went solo released theirs already
    return [results[i] for i in range(len(specs))]


def choose_backend(trainer, backend: str = "auto", fold: str | None = None) -> tuple[str, str | None]:
    """``(backend, None)`` for the seeds of ``trainer``'s configuration, or ``(backend, why not)``;
    ``fold``: the architecture's ``seed_fold`` (``"channels"``: the channels backend)."""
    why = structural_reason(trainer, fold)
    if fold == "channels":
        if why is None and backend not in ("auto", "channels"):
            why = f"the {backend} backend does not apply to an architecture that folds its seeds into channels"
        return "channels", why
    if why is None and backend != "vmap":
        if _mlp_forms(trainer.G, trainer.D) is not None:
            return "grouped", None
        if backend == "grouped":
            return backend, "the grouped backend covers the built-in MLP's Linear/activation chains only"
        return "vmap", None
    return backend, why


def estimate_group_seconds(specs: Sequence[RunSpec], host, data_root: str | None = None,
                           download: bool = False, timed_steps: int = 3) -> float | None:
    """Seconds of training the budget of ``specs`` (one group: equal but for their seeds) buys when they
    train together: steps from the solo step cost (:func:`runner.estimate_seconds`'s cache) times the
    fastest of ``timed_steps`` group steps after two untimed ones, on throwaway trainers, measured once
    per configuration and group size and cached like the solo cost. ``None`` when the group would not
    train vectorised, or cannot be built (the run will say why)."""
    lead = specs[0]
    threads = torch.get_num_threads()

    def measure_group() -> dict[str, float]:
        trainers = [runner.build_trainer(host, spec, hparams, data_root, download)[1] for spec in specs]
        backend, why = choose_backend(trainers[0], fold=host.architectures.get(lead.arch).seed_fold)
        if why:
            return {"vectorized": 0, "seconds": 0.0}
        group = SeedGroup(trainers, [torch.get_rng_state() for _ in trainers], backend)
        seconds = float("inf")
        device = str(trainers[0].device)
        for i in range(2 + max(1, timed_steps)):
            runner._sync(device)
            t0 = time.perf_counter()
            group.step()
            runner._sync(device)
            if i >= 2:
                seconds = min(seconds, time.perf_counter() - t0)
        return {"vectorized": 1, "seconds": seconds}

    try:
        torch.set_num_threads(lead.threads)
        with torch.random.fork_rng(devices=[]):
            hparams = runner.resolve_hparams(host, lead)
            cost = runner.cached_step_cost(lead, hparams, host, lambda: runner.measure_step(
                lambda: runner.build_trainer(host, lead, hparams, data_root, download)[1],
                count_flops=lead.device != "mps"))
            steps = runner.steps_for_budget(lead, int(cost["images"]), int(cost["flops"]) or None)
            group = runner.cached_step_cost(lead, hparams, host, measure_group, kind=f"group of {len(specs)}")
    except Exception:  # noqa: BLE001 - an estimate never stops a sweep
        return None
    finally:
        torch.set_num_threads(threads)
    if not group["vectorized"]:
        return None
    return steps * group["seconds"] if steps else None


def _train(seeds: list[_Seed], host, backend: str, progress) -> None:
    """The loop of ``_Run.train`` for K seeds at once (keep the two in step): the seeds' own budget,
    schedule, logs, evaluations and checkpoints, one batched step; then ``finish`` per seed."""
    spec = seeds[0].spec
    device = str(seeds[0].run.trainer.device)
    max_steps = seeds[0].run.max_steps
    due, checkpoint_due = seeds[0].run.schedule()
    training = {"mode": "vectorized", "backend": backend, "seeds": len(seeds),
                "group": [s.spec.seed for s in seeds],
                "time_attribution": "each group step's time is split evenly among the seeds training in it"}
    clock = [time.perf_counter()]

    def charge(active: list[_Seed]) -> None:
        """Split the shared time since the last charge among ``active``."""
        now = time.perf_counter()
        for s in active:
            s.wall += (now - clock[0]) / len(active)
        clock[0] = now

    def own(seed: _Seed, work: Callable[[], None]) -> bool:
        """Seed-local work, charged to that seed; an exception there fails that seed alone."""
        t0 = time.perf_counter()
        failure = None
        try:
            work()
        except Exception:
            failure = _failure(seed)
        seed.wall += time.perf_counter() - t0
        clock[0] = time.perf_counter()
        if failure is not None:
            _store(seed, failure, host, training)
        return failure is None

    active = list(seeds)
    try:
        group = SeedGroup([s.run.trainer for s in active], [s.global_rng for s in active], backend)
    except Exception:
        charge(active)
        for s in active:
            _store(s, _failure(s), host, training)
        return
    pending_bad = [False] * len(active)

    def keep(kept: list[int]) -> None:
        nonlocal group, active, pending_bad
        if len(kept) < len(active):
            group = group.without([k for k in range(len(active)) if k not in kept]) if kept else None
            active = [active[k] for k in kept]
            pending_bad = [pending_bad[k] for k in kept]

    bar = progress(total=max_steps, initial=active[0].run.trainer.steps_done,
                   desc=f"{spec.variant}-{spec.dataset} s{','.join(str(s.spec.seed) for s in seeds)}",
                   runs=[s.spec.dirname for s in seeds]) \
        if progress else None
    try:
        while active:
            lead = active[0].run.trainer
            if active[0].run.budget_spent():
                break
            runner._sync(device)
            t0 = time.perf_counter()
            images_before = lead.images_shown
            try:
                loss_d, loss_g = group.step()
            except Exception:  # the shared step failed: every seed in it did
                charge(active)
                for s in active:
                    _store(s, _failure(s), host, training)
                active = []
                break
            finite = (torch.isfinite(loss_d) & torch.isfinite(loss_g)).tolist()  # a sync, as the solo loop's
            pending_bad = [bad or not ok for bad, ok in zip(pending_bad, finite)]
            elapsed = time.perf_counter() - t0
            step = lead.steps_done
            if step > runner.WARMUP_STEPS:
                for s in active:
                    s.run.train_seconds += elapsed / len(active)
                    s.run.timed_images += lead.images_shown - images_before
            if bar:
                bar.update(1)
            if step % runner.LOG_EVERY == 0 or step == max_steps:
                charge(active)
                for k, s in enumerate(active):
                    if pending_bad[k]:
                        _store(s, _diverged(step), host, training)
                    else:
                        s.run.log_stats(float(loss_d[k]), float(loss_g[k]))
                keep([k for k in range(len(active)) if not pending_bad[k]])
            evaluating = bool(due(step) and spec.metrics)
            checkpointing = checkpoint_due(step)
            if active and (evaluating or checkpointing):
                charge(active)
                group.write_back()
                rngs = list(group.global_rng)
                keep([k for k, s in enumerate(active) if own(s, lambda s=s, k=k: _evaluate_and_checkpoint(
                    s.run, evaluating, checkpointing, rngs[k]))])
        charge(active)
    finally:
        if bar:
            bar.close()
    if group is not None and active:
        group.write_back()
    for k, s in enumerate(active):
        if pending_bad[k]:
            _store(s, _diverged(s.run.trainer.steps_done), host, training)
            continue
        outcome: dict = {}
        if own(s, lambda s=s: outcome.update(s.run.finish())):
            _store(s, outcome, host, training)


def _evaluate_and_checkpoint(run, evaluating: bool, checkpointing: bool, global_rng: torch.Tensor) -> None:
    """The per-step tail of ``_Run.train`` for one seed, its weights already written back."""
    if evaluating:
        run.evaluate_val()
    if checkpointing:
        # A checkpoint records the global RNG: this seed's own, as its solo run's does.
        outer = torch.get_rng_state()
        torch.set_rng_state(global_rng)
        try:
            run.save_checkpoint()
        finally:
            torch.set_rng_state(outer)
