"""The base classes a plugin subclasses: Architecture, Loss, Technique, Dataset, Metric, ReportFormat.

Each has a ``name`` (snake_case, stable: it is stored in results), a ``paper`` citation, and a few
methods to override. The training loop that drives them lives in :mod:`ganbench.training`.

Conventions every plugin can rely on:
* Images are float tensors in [-1, 1], shape ``[B, C, H, W]``. 2D points are ``[B, 2]`` in the
  protocol's own coordinates (the ring has radius 1, the grid spans ±4), so a generator of points
  ends in a linear layer, not tanh. A dataset declares this in ``DataInfo.value_range``; metrics see
  generator output through :func:`ganbench.evaluation.to_metric_space`, which clips only bounded data
  (and quantises images to 8 bits, as a saved PNG would) and never touches points.
* A generator maps ``(z, y)`` to samples; ``z`` is ``[B, G.z_dim]`` unless the generator defines
  ``sample_latent(n, generator, device)`` (InfoGAN's structured codes, for instance).
* A discriminator maps ``(x, y)`` to raw scores (logits), shape ``[B]`` (``[B/m]`` behind PacGAN's
  packing: one score per pack of m samples; losses average, so that is exact). Discriminators that expose
  ``features(x, y) -> [B, F]`` support feature matching.
* ``y`` is an integer class tensor ``[B]`` for conditional architectures, ``None`` otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ganbench.training import StepContext


# ---------------------------------------------------------------------------------------------------
# Data description shared by datasets, architectures and metrics.

@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What an architecture needs to know about a dataset."""

    shape: tuple[int, ...]      # one sample: (2,) for points, (C, H, W) for images
    num_classes: int = 0        # 0 = no labels
    kind: str = "image"         # "image" | "points"
    num_modes: int = 0          # known number of modes (ring 8, grid 25, Stacked MNIST 1000), 0 = unknown
    # (low, high) that every real sample lies in, or None for unbounded data (points in the protocol's
    # coordinates). Left as () it follows the kind: images (-1, 1), anything else unbounded.
    value_range: tuple[float, float] | None = ()

    def __post_init__(self):
        if self.value_range == ():
            object.__setattr__(self, "value_range", (-1.0, 1.0) if self.kind == "image" else None)

    @property
    def is_image(self) -> bool:
        return self.kind == "image"


class Plugin:
    """Common to every plugin class."""

    name: ClassVar[str]
    paper: ClassVar[str] = ""                       # citation of the paper the variant comes from
    defaults: ClassVar[Mapping[str, Any]] = {}      # hyperparameters from that paper, overridable per run

    @classmethod
    def describe(cls) -> str:
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else ""


# ---------------------------------------------------------------------------------------------------

class Architecture(Plugin):
    """A generator/discriminator pair. Override :meth:`build` and, if needed, :meth:`supports`.

    ``defaults`` holds the paper's training hyperparameters; the keys the training loop reads are
    ``batch_size, z_dim, lr_g, lr_d, beta1, beta2, n_critic`` (losses and techniques may override).
    """

    conditional: ClassVar[bool] = False
    image_sides: ClassVar[tuple[int, ...]] = ()   # square image sides a convolutional stack is built for

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


class Loss(Plugin):
    """An adversarial objective. Scores are the discriminator's raw outputs, float32, shape ``[B]``.

    ``needs_real_for_generator``: relativistic losses compare fakes with reals in the generator step.
    ``accepts_label_smoothing``: the loss reads ``hparams["real_label"]`` (one-sided label smoothing).
    """

    needs_real_for_generator: ClassVar[bool] = False
    accepts_label_smoothing: ClassVar[bool] = False

    def __init__(self, hparams: Mapping[str, Any]):
        self.hparams = dict(hparams)

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def penalty(self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                labels: torch.Tensor | None) -> torch.Tensor | None:
        """An extra discriminator term (gradient penalty, R1, DRAGAN). ``None`` for none."""
        return None

    def make_optimizer(self, params, lr: float, betas: tuple[float, float]):
        """The optimiser the paper pairs with this loss; Adam unless overridden (WGAN uses RMSprop)."""
        import torch
        return torch.optim.Adam(params, lr=lr, betas=betas)

    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        """Called after each discriminator update (WGAN's weight clipping)."""


class Technique(Plugin):
    """A training trick that composes with any compatible architecture x loss.

    Every hook has a do-nothing default, so a technique overrides only what it changes. Hooks are
    called in the order the techniques were given on the command line.
    """

    @classmethod
    def supports(cls, architecture: type[Architecture], loss: type[Loss], data: DataInfo) -> str | None:
        """Return ``None`` if the technique applies, else a short reason (shown in skipped lists)."""
        return None

    def __init__(self, hparams: Mapping[str, Any]):
        self.hparams = dict(hparams)

    # -- set-up ------------------------------------------------------------------------------------
    def wrap_generator(self, generator: nn.Module, data: DataInfo) -> nn.Module:
        return generator

    def wrap_discriminator(self, discriminator: nn.Module, data: DataInfo) -> nn.Module:
        """E.g. spectral normalisation, PacGAN packing, minibatch features, several discriminators."""
        return discriminator

    # -- every step --------------------------------------------------------------------------------
    def discriminator_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Transform a batch (real or fake) before the discriminator sees it (instance noise, DiffAugment).
        Must be differentiable in ``x``: it is applied in the generator step too."""
        return x

    def discriminator_fakes(self, fake: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """Choose the fakes the discriminator trains on (experience replay)."""
        return fake

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

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values needed to resume bit-identically (loaded with weights_only=True)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
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

    name: str                    # e.g. "fid_lenet", "modes", "hq_percent"
    value: float
    higher_is_better: bool
    num_samples: int             # generated samples used
    reference_split: str         # "val" or "test" (or "" when no real data is involved)
    extractor: str = ""          # e.g. "lenet-mnist5k-<hash>", "inception-v3-compat"
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. {"std": ...}


#: What a run's checkpoint is selected on and a leaderboard is sorted by, in order of preference
#: ("fid_*" stands for any other FID, by name).
PRIMARY_METRICS = ("fid_inception", "fid_lenet", "modes", "stacked_modes", "fid_*", "classes_covered")


def primary_metric(names) -> str | None:
    """The most preferred of ``names`` under :data:`PRIMARY_METRICS`; the first name if none is listed."""
    names = list(dict.fromkeys(names))
    for wanted in PRIMARY_METRICS:
        if wanted.endswith("*"):
            matches = sorted(n for n in names if n.startswith(wanted[:-1]))
            if matches:
                return matches[0]
        elif wanted in names:
            return wanted
    return names[0] if names else None


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


class Metric(Plugin):
    """Measures a generator. One plugin may report several values (FID, KID, IS, P/R in one pass)."""

    @classmethod
    def availability(cls) -> str | None:
        """``None`` if what the metric needs besides the data (pretrained weights) is on this machine,
        else one line saying how to get it. Must not touch the network; ``supports`` should return
        this reason too."""
        return None

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        return None

    def compute(self, ctx: EvaluationContext, split: str) -> list[MetricValue]:
        """Evaluate against the real samples of ``split`` ("val" during selection, "test" for reporting)."""
        raise NotImplementedError


class ReportFormat(Plugin):
    """Renders leaderboard tables (and figures) to one output format."""

    extension: ClassVar[str] = ""

    def render(self, report: Any, out_dir: str) -> list[str]:
        """Write the report under ``out_dir``; return the paths written."""
        raise NotImplementedError
