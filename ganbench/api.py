"""The base classes a plugin subclasses: Architecture, Loss, Technique, Dataset, Metric, ReportFormat, Task.

Each has a ``name`` (snake_case, stable: it is stored in results), a ``paper`` citation, and a few
methods to override. The training loop that drives them lives in :mod:`ganbench.training`.

Conventions every plugin can rely on:
* Images are float tensors in [-1, 1], shape ``[B, C, H, W]``. Token sequences are ``[B, L]`` float
  tensors of token ids (exact below 2^24; a text network casts them where it embeds them). 2D points are ``[B, 2]`` in the
  protocol's own coordinates (the ring has radius 1, the grid spans ±4), so a generator of points
  ends in a linear layer, not tanh. A dataset declares this in ``DataInfo.value_range``; metrics see
  generator output through :func:`ganbench.evaluation.to_metric_space`, which clips only bounded data
  (and quantises images to 8 bits, as a saved PNG would) and never touches points.
* A generator maps ``(z, y)`` to samples; ``z`` is ``[B, z_dim]`` unless the architecture declares
  ``samples_latent`` and its generator defines ``sample_latent(n, generator, device)`` (InfoGAN's
  structured codes, for instance).
* A discriminator maps ``(x, y)`` to raw scores (logits), shape ``[B]`` (``[B/m]`` behind PacGAN's
  packing: one score per pack of m samples; losses average, so that is exact). An architecture that
  declares ``discriminator_features`` has a discriminator with ``features(x, y) -> [B, F]`` (feature
  matching needs it). An architecture that declares ``encoder`` (BiGAN, ALI) has a discriminator of
  pairs, ``D(x, z) -> [B]``, and a generator with ``encode(x, generator) -> z``.
* ``y`` is an integer class tensor ``[B]`` for conditional architectures, ``None`` otherwise.
* Randomness during training comes from the generators the core hands out (``ctx.rng`` for a
  technique, the ``rng`` argument of :meth:`Loss.penalty`), never the global torch RNG: each is one
  stream per run, saved in checkpoints, so runs reproduce, resume bit-identically and train the same
  when several seeds share one process. The global RNG is seeded for weight initialisation only.

Every capability is declared on the plugin class (the ``ClassVar`` attributes below); the core reads
declarations and never probes a built module for methods, so an incompatible combination is skipped
with its reason when the matrix is expanded instead of failing when the run starts.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Protocol

if TYPE_CHECKING:
    import torch
    from torch import nn


GENERATION = "generation"   # the built-in task: samples from noise (what every plugin serves by default)
# What a task's generator is given (:attr:`Task.generator_input`) and what data it needs (:attr:`Task.needs`).
GENERATOR_INPUTS = ("noise", "image", "low_resolution", "tokens")
TASK_DATA = ("samples", "pairs", "two domains")
# How a task's generator learns (:attr:`Task.generator_update`).
GENERATOR_UPDATES = ("backprop", "policy_gradient")


# ---------------------------------------------------------------------------------------------------
# Data description shared by datasets, architectures and metrics.

@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What an architecture needs to know about a dataset."""

    shape: tuple[int, ...]      # one sample: (2,) for points, (C, H, W) for images
    num_classes: int = 0        # 0 = no labels
    kind: str = "image"         # "image" | "points" | "tokens"
    num_modes: int = 0          # known number of modes (ring 8, grid 25, Stacked MNIST 1000), 0 = unknown
    # (low, high) that every real sample lies in, or None for unbounded data (points in the protocol's
    # coordinates). Left as () it follows the kind: images (-1, 1), anything else unbounded.
    value_range: tuple[float, float] | None = ()
    # Token sequences (kind "tokens"): shape (L,), float token ids in [0, vocab_size); 0 otherwise.
    vocab_size: int = 0
    # The data's true distribution is known: its Dataset.log_likelihood scores any sample exactly
    # (the oracle of SeqGAN's synthetic experiment), so a metric can read a sample's true likelihood.
    exact_likelihood: bool = False

    def __post_init__(self):
        if self.value_range == ():
            object.__setattr__(self, "value_range", (-1.0, 1.0) if self.kind == "image" else None)

    @property
    def is_image(self) -> bool:
        return self.kind == "image"


# ---------------------------------------------------------------------------------------------------
# Hyperparameters: one flat namespace per run, with a schema.

_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list"}


@dataclasses.dataclass(frozen=True)
class HParam:
    """One declared hyperparameter: what ``--hparam NAME=VALUE`` and a study's ``[hparams]`` may set.

    ``type`` follows the default (``bool``, ``int``, ``float``, ``str``, ``list``) unless given; an
    ``int`` accepts whole numbers only, a ``float`` any finite number. ``low``/``high`` bound numbers
    (inclusive, or exclusive with ``low_open``/``high_open``); ``choices`` lists the accepted values.
    """

    name: str
    default: Any
    doc: str = ""
    type: type | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None

    def __post_init__(self):
        if self.type is None and self.default is not None:
            kind = type(self.default)
            object.__setattr__(self, "type", list if kind is tuple else kind)

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, getattr(self.type, "__name__", "any"))

    def _type_words(self) -> str:
        return {bool: "true or false", int: "a whole number", float: "a finite number", str: "text",
                list: "a list"}.get(self.type, "any value")

    def expected(self) -> str:
        """What a valid value is, in words ("a number > 0", "a whole number >= 1", ...)."""
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        what = self._type_words()
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        if self.low is not None and self.high is not None:
            return f"{'a whole number' if self.type is int else 'a number'} in " \
                   f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"
        if bounds:
            return f"{'a whole number' if self.type is int else 'a number'} {bounds[0]}"
        return what

    def problem(self, value: Any) -> str | None:
        """``None`` if ``value`` is valid, else what a valid value is (see :meth:`expected`)."""
        import math
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.choices is not None:
            ok = any(value == c and type(value) is type(c) for c in self.choices)
            return None if ok else self.expected()
        kind = self.type
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = number and isinstance(value, int)
        elif kind is float:
            ok = number and math.isfinite(value)
        elif kind is str:
            ok = isinstance(value, str)
        elif kind is list:
            ok = isinstance(value, (list, tuple))
        else:
            return None
        if not ok:
            return self._type_words()
        if number and kind in (int, float):
            if self.low is not None:
                ok = value > self.low if self.low_open else value >= self.low
            if ok and self.high is not None:
                ok = value < self.high if self.high_open else value <= self.high
        return None if ok else self.expected()

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "default": self.default, "type": self.type_name, "doc": self.doc}
        if self.low is not None or self.high is not None:
            d["range"] = self.expected()
        if self.choices is not None:
            d["choices"] = list(self.choices)
        return d


#: The keys the training loop itself reads (:class:`ganbench.training.Trainer`), declared once here. An
#: architecture gives batch_size, z_dim, lr_g and lr_d their values (``None``: no default of the core);
#: a loss or technique may override any of them (WGAN's n_critic, TTUR's learning rates).
CORE_HPARAMS: tuple[HParam, ...] = (
    HParam("batch_size", None, "samples per batch, real and fake alike", int, low=1),
    HParam("z_dim", None, "size of the generator's latent vector z", int, low=1),
    HParam("lr_g", None, "the generator optimiser's learning rate", float, low=0, low_open=True),
    HParam("lr_d", None, "the discriminator optimiser's learning rate", float, low=0, low_open=True),
    HParam("beta1", 0.5, "Adam's first-moment decay (beta1), for both optimisers", float, low=0, high=1,
           high_open=True),
    HParam("beta2", 0.999, "Adam's second-moment decay (beta2), for both optimisers", float, low=0, high=1,
           high_open=True),
    HParam("n_critic", 1, "discriminator updates per generator update", int, low=1),
    HParam("reuse_fake_for_generator", False, "the generator update scores the last discriminator update's "
           "fake batch instead of drawing a new one (pytorch/examples' DCGAN)", bool),
    HParam("penalty_every", 1, "lazy regularisation: the loss's penalty (R1, gradient penalty) is added, times "
           "this, in every this-many-th training step only (Karras et al. 2020 use 16 for R1)", int, low=1),
)
CORE_HPARAM_NAMES = {h.name: h for h in CORE_HPARAMS}
#: Read by every loss that declares ``accepts_label_smoothing`` (set by the label_smoothing technique).
REAL_LABEL = HParam("real_label", 1.0, "target of real samples in the discriminator loss (1 = no smoothing)",
                    float, low=0, high=1, low_open=True)


class Plugin:
    """Common to every plugin class.

    Hyperparameters are declared by ``defaults`` (name -> the paper's value, overridable per run) and
    ``hparam_docs`` (name -> one line saying what the knob does); ``hparam_limits`` (name -> keyword
    arguments of :class:`HParam`: ``low``, ``high``, ``low_open``, ``high_open``, ``choices``) adds a
    valid range. The core applies the defaults (:func:`ganbench.runner.resolve_hparams`) and refuses,
    before any run, a key no plugin of the run declares or a value of the wrong type or range. A key
    the training loop reads (:data:`CORE_HPARAMS`) needs no doc of its own.
    """

    name: ClassVar[str]
    paper: ClassVar[str] = ""                       # citation of the paper the variant comes from
    defaults: ClassVar[Mapping[str, Any]] = {}      # hyperparameters from that paper, overridable per run
    hparam_docs: ClassVar[Mapping[str, str]] = {}   # one line per key of ``defaults``: what it does
    hparam_limits: ClassVar[Mapping[str, Mapping[str, Any]]] = {}  # optional valid ranges or choices

    @classmethod
    def describe(cls) -> str:
        """The first line of the class docstring: what ``ganbench list`` and the report show."""
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""

    @classmethod
    def hparam_schema(cls) -> tuple[HParam, ...]:
        """This plugin's hyperparameters: ``defaults`` with their docs, the core's range for core keys."""
        out = []
        for name, default in cls.defaults.items():
            core = CORE_HPARAM_NAMES.get(name)
            limits = dict(cls.hparam_limits.get(name, {}))
            doc = cls.hparam_docs.get(name) or (core.doc if core else "")
            if core is not None and not limits:
                out.append(dataclasses.replace(core, default=default, doc=doc))
            else:
                kind = limits.pop("type", core.type if core else None)
                out.append(HParam(name, default, doc, kind, **limits))
        return tuple(out)


def hparam_schema(plugins) -> dict[str, HParam]:
    """The schema of a run whose plugins are ``plugins`` (classes, in merge order: architecture, loss,
    techniques): the core keys, then each plugin's declarations, a later default replacing an earlier
    one exactly as :func:`ganbench.runner.resolve_hparams` merges them."""
    schema = {h.name: h for h in CORE_HPARAMS}
    for cls in plugins:
        for h in cls.hparam_schema():
            earlier = schema.get(h.name)
            if earlier is not None and not cls.hparam_limits.get(h.name) and h.name not in CORE_HPARAM_NAMES:
                h = dataclasses.replace(earlier, default=h.default, doc=h.doc or earlier.doc)
            schema[h.name] = h
    return schema


# ---------------------------------------------------------------------------------------------------

class Architecture(Plugin):
    """A generator/discriminator pair. Override :meth:`build` and, if needed, :meth:`supports`.

    ``defaults`` holds the paper's training hyperparameters; the keys the training loop reads are
    :data:`CORE_HPARAMS` (``batch_size, z_dim, lr_g, lr_d`` have no core default: give them here),
    and losses and techniques may override them.
    """

    conditional: ClassVar[bool] = False
    image_sides: ClassVar[tuple[int, ...]] = ()   # square image sides a convolutional stack is built for
    # D has ``features(x, y) -> [B, F]``, an intermediate layer (feature matching reads it).
    discriminator_features: ClassVar[bool] = False
    # G has ``sample_latent(n, generator, device) -> z`` (structured codes); otherwise z ~ N(0, I).
    samples_latent: ClassVar[bool] = False
    # D has a head of its own that reads one sample at a time (InfoGAN's Q network) and
    # ``auxiliary_loss(fake, z) -> 0-dim tensor``, added to the generator step and trained with G and
    # D's body. Techniques that change what D's body is built for (PacGAN's packs) cannot apply.
    auxiliary_head: ClassVar[bool] = False
    # G and D are pure functions of their parameters and input (no buffers, no parametrizations),
    # runnable under torch.func.vmap: several seeds can train as one batched computation.
    vectorizable_seeds: ClassVar[bool] = False
    # "channels": K copies of G (and of D) fold into one network of K times the channels, the seeds'
    # channels side by side (HFTA: Wang et al., 2021, "Horizontally Fused Training Array", MLSys). The
    # networks hold only Conv2d/ConvTranspose2d, BatchNorm2d (per-seed statistics, then) and
    # elementwise activations, and their forwards only reshape in ways that keep the batch dimension
    # first and each sample's values in channel order (``z.view(B, -1, 1, 1)``, ``.view(-1)`` of a
    # [B, 1, 1, 1] score). Checked on the built modules (:func:`ganbench.vectorized.fold_reason`).
    seed_fold: ClassVar[str | None] = None
    # Where a self-attention block (Zhang et al., 2019) can go: the networks, of "generator" and
    # "discriminator", whose built module has ``attention_slot``, an empty ``nn.Sequential`` that its
    # forward applies to a [B, C, H, W] feature map, and ``attention_channels`` (that C, an int). The
    # self_attention technique appends its block to each slot and skips architectures declaring
    # none; one whose attention is built in (sagan) declares none, so no block is added twice.
    attention_slots: ClassVar[tuple[str, ...]] = ()
    # D's weights are torch parametrizations (spectral norm), recomputed from other tensors at each
    # call: per-sample gradient machinery that reads plain layers (Opacus, for dp_sgd) cannot take them.
    discriminator_parametrized: ClassVar[bool] = False
    # D has a layer other than BatchNorm that mixes the samples of a batch (minibatch standard
    # deviation): one sample's score depends on the others, so it has no per-sample gradient.
    discriminator_minibatch_layer: ClassVar[bool] = False
    # An inference network E beside G, and a discriminator of (x, z) pairs (BiGAN, ALI). E is a
    # submodule of G reached through ``G.encode(x, generator) -> z [B, G.z_dim]`` (``generator``: the
    # stream a stochastic encoder draws its noise from; ``None``: its deterministic code, the posterior
    # mean), so E is trained by the generator optimiser and saved, hashed and averaged (EMA) with G.
    # D is called ``D(x, z)``, on (x, E(x)) for real data and (G(z), z) for fakes; the second argument
    # is a latent code, never labels (such an architecture is unconditional). G and E minimise the
    # loss's discriminator loss with real and fake swapped (:mod:`ganbench.training`). Losses that
    # differentiate D's input (``double_backward``) and techniques not declaring
    # ``encoder_compatible`` are refused; metrics declaring ``needs_encoder`` apply only here.
    encoder: ClassVar[bool] = False
    # G and D change with the training progress (progressive growing: which resolution trains, and a
    # fade-in's weight): the trainer calls :meth:`set_progress` before every step and before it hands
    # out the generator to evaluate or sample. A kimg budget shorter than :meth:`images_until_final`
    # is refused when the matrix is expanded (a run of another budget that stops short warns on
    # stderr), and so are --ddp (layers not in use yet get no gradient) and flops budgets (one
    # measured step does not price steps that grow).
    follows_progress: ClassVar[bool] = False
    # The benchmark tasks (:class:`Task` names) this architecture's generator is built for: what its
    # generator takes (noise, an image, a token sequence) is the task's ``generator_input``.
    tasks: ClassVar[tuple[str, ...]] = (GENERATION,)
    # What G is given, one of GENERATOR_INPUTS (a task's ``generator_input`` must match). A generator
    # given an image has ``G.input_shape``, the (C, H, W) of that image, in place of ``G.z_dim``.
    generator_input: ClassVar[str] = "noise"
    # D judges (target or output, the generator's input) pairs, ``D(x, input)``: a conditional
    # discriminator of paired translation (pix2pix's PatchGAN). Only with a generator given an image;
    # techniques not declaring ``encoder_compatible`` are refused (they would pass labels).
    discriminator_sees_input: ClassVar[bool] = False
    # Scores D gives each sample it is shown: 1, or one per domain where D judges each half of a joint
    # two-domain sample with its own discriminator (CycleGAN: ``[2B]`` for a batch of B, every D_A
    # score first). Techniques that add a per-sample statistic to the score refuse anything but 1.
    scores_per_sample: ClassVar[int] = 1

    @classmethod
    def supports(cls, data: DataInfo) -> str | None:
        """Return ``None`` if this architecture can model ``data``, else a short reason.

        The default refuses unlabelled data for conditional architectures and, when ``image_sides``
        is set, anything but square ``(C, H, W)`` images of those sides. Override for other rules.
        """
        if cls.image_sides:
            if not data.is_image or len(data.shape) != 3:
                return f"{cls.name} needs (C, H, W) images"
            _, height, width = data.shape
            if height != width or height not in cls.image_sides:
                sides = " or ".join(map(str, sorted(cls.image_sides)))
                return f"{cls.name} needs square {sides} px images, not {height}x{width}"
        if cls.conditional and data.num_classes <= 0:
            return f"{cls.name} is class-conditional and needs labelled data"
        return None

    def build(self, data: DataInfo, hparams: Mapping[str, Any]) -> tuple[nn.Module, nn.Module]:
        """Return ``(generator, discriminator)``, freshly initialised from the global torch RNG."""
        raise NotImplementedError

    def set_progress(self, generator: nn.Module, discriminator: nn.Module, images_shown: int) -> None:
        """Only for ``follows_progress``: put the networks in their state after ``images_shown`` training
        images (the trainer's count: batches drawn x batch size x processes). ``generator`` and
        ``discriminator`` are as the trainer holds them, wrapped by techniques, or the generator it
        evaluates (an EMA copy). The state must be a pure function of ``images_shown`` and the run's
        hyperparameters, kept in the modules' buffers: a run resumed from a checkpoint then continues
        bit-identically, and a saved generator (``best.pt``) keeps the state it was saved in."""

    @classmethod
    def images_until_final(cls, data: DataInfo, hparams: Mapping[str, Any]) -> int:
        """Only for ``follows_progress``: the images shown from which on :meth:`set_progress` no longer
        changes the networks (the end of the last fade-in). Raise ``ValueError`` with a one-line reason
        when ``hparams`` cannot apply to ``data``: the combination is then skipped with it."""
        return 0


class Loss(Plugin):
    """An adversarial objective. Scores are the discriminator's raw outputs, float32, shape ``[B]``.

    ``needs_real_for_generator``: relativistic losses compare fakes with reals in the generator step.
    ``accepts_label_smoothing``: the loss reads ``hparams["real_label"]`` (one-sided label smoothing).
    """

    needs_real_for_generator: ClassVar[bool] = False
    accepts_label_smoothing: ClassVar[bool] = False
    # discriminator_loss/generator_loss are functions of one seed's scores, the penalty only calls
    # ``discriminator(x, labels)`` and draws from its ``rng``, and after_discriminator_step only touches
    # ``discriminator.parameters()`` elementwise: several seeds can train as one batched computation.
    vectorizable_seeds: ClassVar[bool] = False
    # penalty() differentiates D's gradient with respect to its input (``create_graph=True``), so the
    # D update back-propagates through a backward pass (WGAN-GP, DRAGAN, R1). Per-sample gradients
    # collected by backward hooks (Opacus, for dp_sgd) cannot follow a double backward pass.
    double_backward: ClassVar[bool] = False
    # The benchmark tasks (:class:`Task` names) whose adversarial game this loss is written for.
    tasks: ClassVar[tuple[str, ...]] = (GENERATION,)
    # False: no adversarial game at all. D is never updated and every generator update is the task's
    # maximum-likelihood one (:meth:`Task.likelihood_objective`): the MLE baseline SeqGAN is compared
    # with. Only for tasks whose generator has a likelihood (``Task.generator_update`` "policy_gradient").
    adversarial: ClassVar[bool] = True

    @classmethod
    def hparam_schema(cls) -> tuple[HParam, ...]:
        """A loss that ``accepts_label_smoothing`` also declares ``real_label`` (default 1: no smoothing)."""
        schema = super().hparam_schema()
        if cls.accepts_label_smoothing and "real_label" not in cls.defaults:
            schema += (REAL_LABEL,)
        return schema

    def __init__(self, hparams: Mapping[str, Any]):
        self.hparams = dict(hparams)

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss (a 0-dim tensor) from its scores on real and fake samples, each ``[B]``."""
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        """The generator's loss (a 0-dim tensor); ``real_scores`` is passed only when
        ``needs_real_for_generator`` is set, else ``None``."""
        raise NotImplementedError

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                labels: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor | None:
        """An extra discriminator term (gradient penalty, R1, DRAGAN). ``None`` for none.

        ``rng`` is the run's penalty stream (on the data's device): draw every random number from it
        (``torch.rand(..., generator=rng)``), never from the global RNG."""
        return None

    def make_optimizer(self, params, lr: float, betas: tuple[float, float]):
        """The optimiser the paper pairs with this loss; Adam unless overridden (WGAN uses RMSprop)."""
        import torch
        return torch.optim.Adam(params, lr=lr, betas=betas)

    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        """Called after each discriminator update (WGAN's weight clipping)."""


class StepContext(Protocol):
    """What a technique hook sees during one training step (the trainer implements it).

    ``real`` and ``labels`` are the batch the hook's update drew (``None`` in a generator step whose
    loss needs no reals). Randomness comes from ``rng``; the batch order from ``next_real_batch``, so
    that every draw is part of the run's saved state.
    """

    step: int
    real: torch.Tensor | None
    labels: torch.Tensor | None

    @property
    def generator(self) -> nn.Module:
        """The generator being trained."""

    @property
    def discriminator(self) -> nn.Module:
        """The discriminator this step concerns (a look-ahead copy while unrolling)."""

    @property
    def loss(self) -> Loss:
        """The run's loss plugin."""

    @property
    def hparams(self) -> Mapping[str, Any]:
        """The run's resolved hyperparameters (every plugin's, defaults applied)."""

    @property
    def rng(self) -> torch.Generator:
        """The technique random stream (saved in checkpoints): use it, never the global RNG."""

    @property
    def device(self) -> torch.device:
        """Where the networks and batches live."""

    def next_real_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next ``(samples, labels)`` batch of the run's data order (it advances the order)."""

    def as_discriminator_sees(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` after every technique's :meth:`Technique.discriminator_input`, in order: what the
        discriminator is trained on (differentiable in ``x``)."""

    def clone_discriminator(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        """A deep copy of the discriminator and of its optimiser, state included (look-ahead): updating
        the copy leaves the trainer's D and its optimiser state as they were."""

    def discriminator_update(self, discriminator: nn.Module, optimizer: torch.optim.Optimizer) -> torch.Tensor:
        """One discriminator update of ``discriminator`` on a fresh batch, as the step's own would be
        (the loss, its penalty and every technique's terms); returns the loss."""


class Technique(Plugin):
    """A training trick that composes with any compatible architecture x loss.

    Every hook has a do-nothing default, so a technique overrides only what it changes. Hooks are
    called in the order the techniques were given on the command line.

    ``reports``: values the technique reports about a run (name -> one line saying what it is), which
    :meth:`reported_values` returns at the end of training. The runner stores them in ``result.json``
    under ``technique_values`` (each with its technique and that line) and the report shows each name
    as a leaderboard column, unranked. Names share one namespace with the other techniques' values.
    """

    reports: ClassVar[Mapping[str, str]] = {}
    # The technique works unchanged when one run trains on several processes with
    # DistributedDataParallel (``--ddp N``): its hooks only touch this rank's batch and weights, the
    # same way on every rank (EMA of G). Techniques that clone D, read other batches or keep state a
    # rank would see differently leave it False and are refused for --ddp runs.
    ddp_compatible: ClassVar[bool] = False
    # The technique works unchanged with an architecture that declares ``encoder`` (D judges (x, z)
    # pairs, E trains with G): it never transforms, replaces or replays what D sees, reads no D
    # features and wraps no D forward (EMA, TTUR, spectral norm, historical averaging, unrolling).
    # Techniques leaving it False are refused for such architectures when the matrix is expanded.
    # The technique never makes D's second argument itself (it passes on what the trainer gives), so it
    # also works where that argument is a latent code (BiGAN/ALI's pairs) or the generator's input
    # (pix2pix's conditional D, ``Architecture.discriminator_sees_input``).
    encoder_compatible: ClassVar[bool] = False
    # The technique adds something to each sample's one score (minibatch features): refused for an
    # architecture whose D gives several scores per sample (``Architecture.scores_per_sample``).
    one_score_per_sample: ClassVar[bool] = False
    # The technique works when samples are discrete token sequences (``DataInfo.kind`` "tokens"): it
    # never perturbs, mixes, interpolates or differentiates what D sees, and never replaces the
    # generator's loss (EMA, TTUR, spectral norm, label smoothing). Others are refused for token data.
    discrete_samples: ClassVar[bool] = False
    # The seeds of a run with this technique may train as one batched computation (``--vectorize-seeds``):
    # its only hook is ``discriminator_for_generator_step``, written against nothing of the StepContext
    # but ``step``, ``hparams``, ``clone_discriminator`` and ``discriminator_update``, and it keeps no
    # state of its own (unrolled D). A seed group calls it once, on the stacked networks of its seeds.
    vectorizable_seeds: ClassVar[bool] = False

    @classmethod
    def supports(cls, architecture: type[Architecture], loss: type[Loss], data: DataInfo) -> str | None:
        """Return ``None`` if the technique applies, else a short reason (shown in skipped lists)."""
        return None

    def __init__(self, hparams: Mapping[str, Any]):
        self.hparams = dict(hparams)

    # -- set-up ------------------------------------------------------------------------------------
    def wrap_generator(self, generator: nn.Module, data: DataInfo) -> nn.Module:
        """Return the generator to train (wrapped or modified in place); called once, after ``build``."""
        return generator

    def discriminator_data(self, data: DataInfo) -> DataInfo:
        """The samples the discriminator judges, when they are not the dataset's (PacGAN's packs of m
        samples have m times the channels). The trainer has the architecture build D for what this
        returns, then wraps it; G is always built for ``data``."""
        return data

    def wrap_discriminator(self, discriminator: nn.Module, data: DataInfo) -> nn.Module:
        """E.g. spectral normalisation, PacGAN packing, minibatch features, several discriminators."""
        return discriminator

    def wrap_discriminator_optimizer(self, optimizer: torch.optim.Optimizer, discriminator: nn.Module,
                                     rng: torch.Generator, train_size: int) -> torch.optim.Optimizer:
        """Return the optimiser D trains with: ``optimizer`` (the loss's :meth:`Loss.make_optimizer` over
        D's parameters) or a wrapper of it (DP-SGD's per-sample clipping and noise). Called once, after
        the networks are on their device; ``rng`` is the technique random stream (``ctx.rng``) and
        ``train_size`` the number of samples in the train split. Its ``state_dict`` must be the wrapped
        optimiser's, so checkpoints resume either way."""
        return optimizer

    # -- every step --------------------------------------------------------------------------------
    def discriminator_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Transform a batch (real or fake) before the discriminator sees it (instance noise, DiffAugment).
        Must be differentiable in ``x``: it is applied in the generator step too."""
        return x

    def discriminator_fakes(self, fake: torch.Tensor, labels: torch.Tensor | None,
                            ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Choose the fakes the discriminator trains on, and the class labels it scores them with
        (``None`` for unconditional architectures): experience replay returns past fakes with the
        labels they were generated for."""
        return fake, labels

    def discriminator_extra_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """A term added to the discriminator loss (historical averaging)."""
        return None

    def generator_loss(self, ctx: StepContext, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        """Replace the generator's adversarial loss (feature matching); ``None`` keeps the loss plugin's."""
        return None

    def generator_extra_loss(self, ctx: StepContext) -> torch.Tensor | None:
        """A term added to the generator loss (historical averaging)."""
        return None

    def discriminator_for_generator_step(self, ctx: StepContext) -> nn.Module | None:
        """The discriminator the generator is scored against (unrolled GAN returns a look-ahead copy)."""
        return None

    def after_generator_step(self, ctx: StepContext) -> None:
        """E.g. update an exponential moving average of the generator."""

    # -- evaluation and state ----------------------------------------------------------------------
    def evaluation_generator(self, generator: nn.Module) -> nn.Module | None:
        """The generator to evaluate instead of the trained one (the EMA copy); ``None`` = unchanged."""
        return None

    def reported_values(self) -> dict[str, float]:
        """The values declared in ``reports`` (name -> number), as they stand at the end of training
        (the privacy budget spent, say); read once per run, after the last step."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values needed to resume bit-identically (loaded with weights_only=True)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (on resuming from a checkpoint)."""
        pass


class Dataset(Plugin):
    """Benchmark data. Samples are returned whole, in memory: images scaled to [-1, 1], points in their
    protocol's own coordinates (whatever ``info.value_range`` declares).

    Splits: ``train`` (what the GAN sees), ``val`` (held-out: checkpoint selection) and ``test``
    (the reference for the reported score). ``embedded`` datasets ship inside installed packages and
    never touch the network.
    """

    info: ClassVar[DataInfo]
    embedded: ClassVar[bool] = True
    sizes: ClassVar[Mapping[str, int] | None] = None   # samples per split, when known without loading
    # [K, 2] mode centres of a point mixture, in the data's coordinates (figures mark them); None if none.
    modes: ClassVar[Any] = None
    # What one sample of it is, in the words of :data:`TASK_DATA`: a sample to model ("samples"), an
    # (input, target) pair, or a sample of one of two unpaired domains. A task runs on the datasets
    # holding what it ``needs``.
    holds: ClassVar[str] = "samples"
    # A dataset holding "pairs": the input half of a pair (a low-resolution image, an edge map), whose
    # samples :meth:`load_inputs` gives, aligned with the targets :meth:`load` gives.
    inputs: ClassVar[DataInfo | None] = None
    # What the input half of its pairs is, one of GENERATOR_INPUTS ("low_resolution": a downsampling
    # of the target; "image": another image of the same shape, an edge map): a task runs on the pairs
    # whose input is what it gives its generator.
    pair_input: ClassVar[str] = ""
    # A dataset holding "two domains": the installed datasets of its two domains, in the order their
    # halves appear in a joint sample (unpaired translation; plugins/datasets/mnist5k_digits28.py).
    domains: ClassVar[tuple[str, ...]] = ()

    def __init__(self, root: str | None = None, download: bool = False):
        self.root = root
        self.download = download

    def availability(self) -> str | None:
        """``None`` if :meth:`load` will work right now, else one line saying how to get the data."""
        return None

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(samples, labels)`` for ``split`` in train/val/test; labels are ``None`` if unlabelled.
        Must be deterministic: the same call returns the same tensors in any process."""
        raise NotImplementedError

    def load_inputs(self, split: str) -> torch.Tensor:
        """The inputs of ``split``'s pairs (shape ``[N, *inputs.shape]``), the i-th the input of the
        i-th sample of :meth:`load`; only for a dataset declaring ``inputs``."""
        raise NotImplementedError(f"{self.name} holds {self.holds}, not (input, target) pairs")

    def domain_labels(self, split: str) -> torch.Tensor:
        """``[N, len(domains)]`` int64: the class of each domain's half of the i-th joint sample of
        :meth:`load`; only for a dataset declaring ``domains``."""
        raise NotImplementedError(f"{self.name} holds {self.holds}, not two domains")

    def draw(self, split: str, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None, str]:
        """``n`` real samples of ``split`` for the real-data reference row, with a phrase saying how
        they were drawn. The default takes a seeded subset without replacement, or draws with
        replacement when the split is smaller than ``n`` (which understates the diversity real data
        has: datasets that are constructions, such as the 2D mixtures and Stacked MNIST, override
        this to draw fresh samples of the same distribution)."""
        import torch
        x, y = self.load(split)
        gen = torch.Generator().manual_seed(int(seed))
        if n <= len(x):
            idx, how = torch.randperm(len(x), generator=gen)[:n], f"{n} of the {len(x)} {split} samples"
        else:
            idx = torch.randint(len(x), (n,), generator=gen)
            how = f"{n} drawn with replacement from the {len(x)} {split} samples"
        return x[idx], (None if y is None else y[idx]), how

    def log_likelihood(self, samples: torch.Tensor) -> torch.Tensor:
        """``[N]``: each sample's exact log-likelihood under the data's true distribution (in nats; the
        sum over a sequence's tokens); only for a dataset whose ``info`` declares ``exact_likelihood``."""
        raise NotImplementedError(f"{self.name} does not know its data's true distribution")

    def fingerprint(self) -> str:
        """A short content hash of the data, used in cache keys (evaluators, reference statistics)."""
        import hashlib
        h = hashlib.sha256()
        for split in ("train", "val", "test"):
            x, y = self.load(split)
            h.update(x.contiguous().numpy().tobytes())
            if y is not None:
                h.update(y.contiguous().numpy().tobytes())
        return h.hexdigest()[:16]


@dataclasses.dataclass
class MetricValue:
    """One number with its protocol: which extractor, how many samples, against which split."""

    name: str                    # snake_case, unique in an evaluation: it keys result.json and every table
    value: float
    higher_is_better: bool
    num_samples: int             # generated samples used
    reference_split: str         # "val" or "test" (or "" when no real data is involved)
    extractor: str = ""          # e.g. "lenet-mnist5k-<hash>", "inception-v3-compat"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. {"std": ...}


def _position(patterns, value_name: str) -> int | None:
    """Where ``value_name`` stands among declared ``patterns`` (an exact name before any ``prefix_*``)."""
    patterns = list(patterns)
    if value_name in patterns:
        return patterns.index(value_name)
    for i, pattern in enumerate(patterns):
        if pattern.endswith("*") and value_name.startswith(pattern[:-1]):
            return i
    return None


def primary_metric(ranks: Mapping[str, Any]) -> str | None:
    """The value name with the lowest declared rank (``Metric.ranks``, stored as ``extra["rank"]``);
    ties go to the first name in sorted order. ``None`` when no value declares a rank: the caller
    picks (checkpoint selection takes the first value, the report the most widely reported one)."""
    ranked = [(rank, name) for name, rank in ranks.items()
              if isinstance(rank, (int, float)) and not isinstance(rank, bool)]
    return min(ranked)[1] if ranked else None


class EvaluationContext:
    """What a metric receives. Built by the runner (see :mod:`ganbench.evaluation`)."""

    dataset: Dataset
    data: DataInfo
    device: str
    cache_dir: str

    def sample(self, n: int) -> torch.Tensor:
        """``n`` generated samples on the CPU, float32, from a fixed evaluation noise stream, as
        :func:`ganbench.evaluation.to_metric_space` makes them: images 8-bit-quantised in [-1, 1],
        points unchanged, in the dataset's coordinates."""
        raise NotImplementedError

    def sample_with_labels(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Like :meth:`sample` but also returns the class labels given to a conditional generator."""
        raise NotImplementedError

    def reference(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Real samples of ``split`` (``dataset.load`` memoised)."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``E(x)``: the evaluated generator's encoder applied to samples ``x`` ``[n, *shape]`` (in the
        dataset's coordinates), ``[n, z_dim]`` on the CPU, float32; a stochastic encoder gives its
        posterior mean. Only for an architecture that declares ``encoder`` (what a metric declaring
        ``needs_encoder`` is given); elsewhere it raises."""
        raise NotImplementedError("this evaluation has no encoder (the architecture declares none)")

    def paired(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(outputs, targets)``: the evaluated generator applied to every input of ``split``'s pairs,
        in metric space as :meth:`sample` gives samples, and the split's targets, aligned. Only for a
        run whose task gives its generator an input (what a metric declaring ``needs_pairs`` is
        given); elsewhere it raises."""
        raise NotImplementedError("this evaluation has no (input, target) pairs (its task gives the generator noise)")

    def translate(self, inputs: torch.Tensor) -> torch.Tensor:
        """The evaluated generator applied to ``inputs`` ``[n, *dataset.inputs.shape]`` (any inputs:
        its own outputs, for a cycle), in metric space, on the CPU. Only where :meth:`paired` is."""
        raise NotImplementedError("this evaluation has no generator input (its task gives the generator noise)")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``G(z)`` for latents ``z`` ``[n, z_dim]``, on the CPU as :meth:`sample` gives samples
        (through :func:`ganbench.evaluation.to_metric_space`); with :meth:`encode`, a reconstruction
        is ``decode(encode(x))``. Only where :meth:`encode` is."""
        raise NotImplementedError("this evaluation has no encoder (the architecture declares none)")


class Metric(Plugin):
    """Measures a generator. One plugin may report several values (FID, KID, IS, P/R in one pass).

    What the core does with a value is declared here, per value name (an exact name, or
    ``prefix_*`` for names made at run time); the core knows no metric by name.
    :func:`ganbench.evaluation.evaluate` copies the declarations into each value's ``extra`` under
    the same keys (see :meth:`declared`), so stored runs carry them to the report:

    * ``ranks``: name -> priority as the primary metric, lower preferred. The lowest-ranked value of
      an evaluation selects the checkpoint (on val); the lowest-ranked column of a group leads and
      sorts its leaderboard and stability table. Values without a rank are never primary while a
      ranked one is present.
    * ``mode_collapse``: values shown in the mode-collapse table, in this column order.
    * ``counts_modes``: values that count the dataset's modes covered; a run ending below half of
      ``DataInfo.num_modes`` counts as collapsed in the stability table.

    ``needs_encoder``: the metric reads the generator's encoder (:meth:`EvaluationContext.encode`,
    :meth:`EvaluationContext.decode`), so it applies only to runs whose architecture declares
    ``encoder``; elsewhere it is left out of the run (and a run whose named metrics all need one is
    skipped with the reason), and the real-data reference row never computes it.

    ``needs_pairs``: the metric compares each output with its target (:meth:`EvaluationContext.paired`:
    PSNR, SSIM), so it applies only to runs whose task gives the generator an input; the real-data
    row never computes it (a target against itself), a task's baseline row does.
    """

    ranks: ClassVar[Mapping[str, int]] = {}
    mode_collapse: ClassVar[tuple[str, ...]] = ()
    counts_modes: ClassVar[tuple[str, ...]] = ()
    needs_encoder: ClassVar[bool] = False
    needs_pairs: ClassVar[bool] = False

    @classmethod
    def declared(cls, value_name: str) -> dict[str, Any]:
        """The declarations that apply to ``value_name``, as stored in its ``extra``: ``rank``
        (int), ``mode_collapse`` (its column position), ``counts_modes`` (True); absent keys do not apply."""
        out: dict[str, Any] = {}
        i = _position(cls.ranks, value_name)
        if i is not None:
            out["rank"] = list(cls.ranks.values())[i]
        i = _position(cls.mode_collapse, value_name)
        if i is not None:
            out["mode_collapse"] = i
        if _position(cls.counts_modes, value_name) is not None:
            out["counts_modes"] = True
        return out

    @classmethod
    def availability(cls) -> str | None:
        """``None`` if what the metric needs besides the data (pretrained weights) is on this machine,
        else one line saying how to get it. Must not touch the network; ``supports`` should return
        this reason too."""
        return None

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        """``None`` if the metric applies to this dataset (``dataset_name`` is its registered name),
        else one line saying why not."""
        return None

    def compute(self, ctx: EvaluationContext, split: str) -> list[MetricValue]:
        """Evaluate against the real samples of ``split`` ("val" during selection, "test" for reporting)."""
        raise NotImplementedError


class ReportFormat(Plugin):
    """Renders leaderboard tables (and figures) to one output format.

    ``aliases``: other names ``ganbench report --format`` accepts for it (its file extension, say).
    ``default``: written when ``--format`` is not given.
    """

    extension: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    default: ClassVar[bool] = True

    def render(self, report: Any, out_dir: str) -> list[str]:
        """Write the report under ``out_dir``; return the paths written."""
        raise NotImplementedError


class Task(Plugin):
    """A benchmark task: what the generator is given, what data it learns from, how it is scored.

    Architectures, losses and techniques stay plugins of their own; a task says which of them fit.
    Declarations, all read when a study's matrix is expanded:

    * ``generator_input``: one of :data:`GENERATOR_INPUTS`: noise (the ``generation`` task), an
      image (translation), a low-resolution image (super-resolution), a token sequence (text).
    * ``needs``: one of :data:`TASK_DATA`, the data it runs on: one dataset of samples, a dataset of
      (input, target) pairs, or two unpaired domains. A dataset declares what it ``holds``.
    * ``metrics``: the metrics that apply to its runs, by name; ``()``: every metric that supports
      the dataset (the ``generation`` task).
    * ``table``: the title of the leaderboard table its runs are reported in.

    An architecture or a loss serves a task by naming it in its own ``tasks``;
    :meth:`supports` turns a combination that does not fit into a skip with its reason.
    """

    generator_input: ClassVar[str] = "noise"
    needs: ClassVar[str] = "samples"
    metrics: ClassVar[tuple[str, ...]] = ()
    table: ClassVar[str] = ""
    # How the generator learns, one of GENERATOR_UPDATES: "backprop" through D's scores of its
    # samples, or "policy_gradient": its samples are discrete, so D's scores are rewards and the
    # generator follows :meth:`policy_objective` (SeqGAN), after :meth:`likelihood_step` steps of
    # maximum likelihood. Its architectures' generators have ``sample_latent(n, generator, device)``
    # (the uniform draws a sample is made at), ``log_prob(x) -> [B, L]`` (per token, given the tokens
    # before it) and ``rollout(x, t, uniforms) -> [R * B, L]`` (R completions of each one's first t tokens).
    generator_update: ClassVar[str] = "backprop"
    # The kinds of sample (``DataInfo.kind``) its datasets hold: continuous samples for the image
    # and point tasks, token sequences for text.
    data_kinds: ClassVar[tuple[str, ...]] = ("image", "points")
    # The row every table of the task reads its variants against besides real data: a generator that
    # learns nothing (bicubic upsampling for super-resolution), given by :meth:`baseline`. Empty: none.
    baseline_label: ClassVar[str] = ""

    def __init__(self, hparams: Mapping[str, Any] | None = None):
        self.hparams = dict(hparams or {})

    def prepare(self, dataset: Dataset) -> None:
        """Called once with the run's dataset before its trainer is built (a content loss that reads
        a classifier of the dataset loads it here). The default does nothing."""

    def generator_objective(self, adversarial: torch.Tensor, fake: torch.Tensor, target: torch.Tensor | None,
                            generate: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """The generator's loss from the loss plugin's ``adversarial`` term, the batch's outputs
        ``fake`` and, where the task gives an input, their targets (a task's content or L1 term and
        the adversarial weight live here). ``generate`` applies the generator being trained to other
        inputs, inside the graph (CycleGAN's cycle and identity terms). The default is the
        adversarial term alone."""
        return adversarial

    def likelihood_step(self, step: int) -> bool:
        """Only for ``generator_update`` "policy_gradient": whether training step ``step`` updates the
        generator by maximum likelihood (pre-training) instead of by policy gradient."""
        return False

    def trains_discriminator(self, step: int) -> bool:
        """Only for "policy_gradient": whether training step ``step`` updates D (its ``n_critic``
        updates); SeqGAN pre-trains D only once the generator's pre-training nears its end."""
        return True

    def likelihood_objective(self, generator: nn.Module, real: torch.Tensor) -> torch.Tensor:
        """Only for "policy_gradient": the generator's maximum-likelihood loss on a real batch, the mean
        negative log-likelihood per token (teacher forcing)."""
        return -generator.log_prob(real).mean()

    def policy_objective(self, generator: nn.Module, samples: torch.Tensor,
                         judge: Callable[[torch.Tensor], torch.Tensor],
                         generator_loss: Callable[[torch.Tensor], torch.Tensor], rng: torch.Generator) -> torch.Tensor:
        """Only for "policy_gradient": a loss whose gradient is the policy gradient of the generator's
        ``samples`` (drawn without a graph). ``judge(x) -> [N]``: the run's D's raw scores of complete
        samples; ``generator_loss(scores) -> [N]``: the loss plugin's generator loss of each score on
        its own (the game's reward is minus it); ``rng``: the stream every further draw (rollouts)
        comes from."""
        raise NotImplementedError(f"task {self.name} trains its generator by back-propagation")

    def baseline(self, inputs: torch.Tensor) -> torch.Tensor:
        """The baseline's outputs for ``inputs`` (``[N, *dataset.inputs.shape]``), in the targets'
        shape and range; only for a task declaring ``baseline_label``."""
        raise NotImplementedError(f"task {self.name} declares no baseline")

    @classmethod
    def supports(cls, architecture: type[Architecture], loss: type[Loss], dataset: type[Dataset]) -> str | None:
        """``None`` if the three can run this task, else a short reason. The default reads their
        declarations: the architecture's and the loss's ``tasks``, the dataset's ``holds``."""
        for kind, plugin in (("architecture", architecture), ("loss", loss)):
            if cls.name not in plugin.tasks:
                served = ", ".join(plugin.tasks) or "none"
                return f"task {cls.name}: {kind} {plugin.name} serves {served}"
        if architecture.generator_input != cls.generator_input:
            return (f"task {cls.name} gives its generator {cls.generator_input.replace('_', ' ')}; "
                    f"{architecture.name}'s takes {architecture.generator_input.replace('_', ' ')}")
        if dataset.holds != cls.needs:
            return f"task {cls.name} needs {cls.needs}; dataset {dataset.name} holds {dataset.holds}"
        if dataset.info.kind not in cls.data_kinds:
            return (f"task {cls.name} runs on {' or '.join(cls.data_kinds)} data; dataset {dataset.name} "
                    f"holds {dataset.info.kind}")
        if cls.needs == "pairs" and dataset.pair_input != cls.generator_input:
            return (f"task {cls.name} gives its generator {cls.generator_input.replace('_', ' ')}; the pairs of "
                    f"{dataset.name} start from {(dataset.pair_input or 'nothing declared').replace('_', ' ')}")
        return None
