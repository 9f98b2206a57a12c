"""Evaluation contexts and the loop that runs metrics against one generator.

The runner builds one :class:`SamplingContext` per evaluation (one generator, one split) and hands it
to :func:`evaluate`. Every metric of that evaluation sees the same generated samples: samples are
drawn from a noise stream seeded by ``(seed, "eval")`` and memoised per ``n``, so two metrics that ask
for 1000 samples share them, and evaluating the same weights twice gives the same numbers.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from ganbench import paths
from ganbench.api import DataInfo, Dataset, EvaluationContext, Metric, MetricValue
from ganbench.errors import PluginError
from ganbench.registry import NAME_PATTERN
from ganbench.seeding import make_generator

def to_metric_space(x: torch.Tensor, data: DataInfo) -> torch.Tensor:
    """Generator output -> what every metric sees; the one place this conversion happens.

    Bounded data (``data.value_range``, images by default) is clipped to its range, and images are
    quantised to 8 bits over it, as a saved PNG holds them (so ``samples.npz`` reproduces every
    metric). Unbounded data (2D points in the protocol's coordinates) passes unchanged: clipping the
    grid's ±4 to [-1, 1] would make exact samples of the mixture score 1 mode of 25.
    """
    x = x.detach().float()
    if data.value_range is None:
        return x
    low, high = data.value_range
    x = x.clamp(low, high)
    if data.is_image:
        scale = (high - low) / 255.0
        x = torch.round((x - low) / scale) * scale + low
    return x


SampleFn = Callable[[int, torch.Generator], "tuple[torch.Tensor, torch.Tensor | None]"]


class SamplingContext(EvaluationContext):
    """An :class:`EvaluationContext` over a sampling function supplied by the runner.

    :param sample_fn: ``sample_fn(n, generator) -> (samples [n, *shape] on the CPU, labels or None)``, already
        passed through :func:`to_metric_space`.
    :param dataset: the dataset the generator was trained on (reference samples come from it).
    :param data: its :class:`DataInfo`.
    :param seed: the run's seed; evaluation noise comes from ``make_generator(seed, "eval")``.
    """

    def __init__(self, sample_fn: SampleFn, dataset: Dataset, data: DataInfo, seed: int,
                 device: str = "cpu", cache_dir: str | None = None):
        self._sample_fn = sample_fn
        self.dataset = dataset
        self.data = data
        self.seed = int(seed)
        self.device = device
        self.cache_dir = str(cache_dir) if cache_dir is not None else str(paths.cache_dir())
        self._samples: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._references: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._fingerprint: str | None = None

    # -- generated samples ---------------------------------------------------------------------
    def sample_with_labels(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = int(n)
        if n <= 0:
            raise ValueError(f"number of samples must be positive, got {n}")
        if n not in self._samples:
            # A fresh generator per draw: sample(1000) is the same whether or not sample(26000) ran first.
            # Slicing a larger draw would also work only if sample_fn were prefix-stable, which chunked
            # sampling does not promise.
            x, y = self._sample_fn(n, make_generator(self.seed, "eval"))
            x = x.detach().to("cpu", torch.float32)
            if tuple(x.shape) != (n, *self.data.shape):
                raise ValueError(f"sample_fn returned shape {tuple(x.shape)}, expected {(n, *self.data.shape)}")
            if y is not None:
                y = y.detach().to("cpu")
                if y.shape[0] != n:
                    raise ValueError(f"sample_fn returned {y.shape[0]} labels for {n} samples")
            self._samples[n] = (x, y)
        return self._samples[n]

    def sample(self, n: int) -> torch.Tensor:
        return self.sample_with_labels(n)[0]

    @property
    def drawn(self) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """The largest sample set drawn so far (what the runner saves), ``None`` if nothing was drawn."""
        if not self._samples:
            return None
        return self._samples[max(self._samples)]

    # -- real samples --------------------------------------------------------------------------
    def reference(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        if split not in self._references:
            self._references[split] = self.dataset.load(split)
        return self._references[split]

    def fingerprint(self) -> str:
        """``dataset.fingerprint()``, memoised: it loads every split, so metrics must not each pay for it."""
        if self._fingerprint is None:
            self._fingerprint = self.dataset.fingerprint()
        return self._fingerprint


def dataset_fingerprint(ctx: EvaluationContext) -> str:
    """The content hash of ``ctx.dataset``, memoised when the context supports it."""
    fn = getattr(ctx, "fingerprint", None)
    return fn() if callable(fn) else ctx.dataset.fingerprint()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _name_problem(produced: list[MetricValue]) -> str | None:
    """Why the value names of one metric cannot be stored (they key result.json and every table)."""
    seen = set()
    for v in produced:
        if not isinstance(v.name, str) or not NAME_PATTERN.match(v.name):
            return (f"returned a value named {repr(v.name)[:60]}, not a valid name (lowercase snake_case "
                    f"matching {NAME_PATTERN.pattern}); none of its values are kept")
        if v.name in seen:
            return f"returned two values named {v.name!r}; none of its values are kept"
        seen.add(v.name)
    return None


def evaluate(metrics: list[Metric], ctx: EvaluationContext, split: str
             ) -> tuple[list[MetricValue], dict[str, str]]:
    """Run every metric against ``split``; return ``(values, errors)``.

    A metric that raises, or returns a value whose name is not a valid name, contributes
    ``errors[metric.name] = "..."`` (one line) and no values; the others still run, so one broken metric
    never costs a run its other numbers. Each value gets ``extra["seconds"]``, the wall time of the
    metric that produced it (sampling included for the first metric that draws a given ``n``), and
    what its metric declares about it (:meth:`ganbench.api.Metric.declared`: rank, mode-collapse role).

    Two metrics returning a value of the same name raise :class:`PluginError` naming both: values are
    stored and selected by name, and neither can be told to be the right one.
    """
    values: list[MetricValue] = []
    errors: dict[str, str] = {}
    producer: dict[str, str] = {}   # value name -> the metric that returned it, for the message
    for metric in metrics:
        if isinstance(metric, type):
            metric = metric()
        name = getattr(metric, "name", type(metric).__name__)
        start = time.perf_counter()
        try:
            produced = list(metric.compute(ctx, split))
        except Exception as exc:  # isolation is the point: report and go on
            errors[name] = _one_line(exc)
            continue
        problem = _name_problem(produced)
        if problem:
            errors[name] = problem
            continue
        for v in produced:
            if v.name in producer:
                raise PluginError(
                    f"metrics {producer[v.name]} and {name!r} ({type(metric).__module__}) both return a value "
                    f"named {v.name!r}, and one would replace the other; rename one, or leave one out "
                    f"(--metric, --disable-plugin)")
            producer[v.name] = f"{name!r} ({type(metric).__module__})"
        seconds = round(time.perf_counter() - start, 3)
        declared = metric.declared if isinstance(metric, Metric) else (lambda _: {})
        for v in produced:
            # the metric's declarations about this value travel with it (the report reads runs, never
            # plugins); a fresh dict, since a metric may hand several values one extra
            v.extra = {**declared(v.name), **v.extra}
            v.extra.setdefault("seconds", seconds)
            v.extra.setdefault("metric", name)  # which plugin produced it: the report explains each one
        values.extend(produced)
    return values, errors
