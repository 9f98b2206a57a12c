"""Evaluation contexts and the loop that runs metrics against one generator.

The runner builds one :class:`SamplingContext` per evaluation (one generator, one split) and hands it
to :func:`evaluate`. Every metric of that evaluation sees the same generated samples: samples are
drawn from a noise stream seeded by ``(seed, "eval")`` and memoised per ``n``, so two metrics that ask
for 1000 samples share them, and evaluating the same weights twice gives the same numbers.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch

from ganbench import paths
from ganbench.api import DataInfo, Dataset, EvaluationContext, Metric, MetricValue, primary_metric
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
CodeFn = Callable[[torch.Tensor], torch.Tensor]

ENCODE_CHUNK = 500  # samples per forward pass of E or G when a metric encodes or decodes a split


def encoder_functions(generator, device, data: DataInfo) -> dict[str, CodeFn]:
    """``{"encode_fn", "decode_fn"}`` for :class:`SamplingContext` over ``generator`` (whose
    architecture declares ``encoder``): ``E(x)`` (a stochastic encoder's posterior mean:
    ``G.encode(x, None)``) and ``G(z)`` through :func:`to_metric_space`, in chunks, in eval mode,
    without gradients, on the CPU."""
    def run(fn, x: torch.Tensor) -> torch.Tensor:
        was_training = generator.training
        generator.eval()
        try:
            with torch.no_grad():
                return torch.cat([fn(chunk.to(device)).detach().to("cpu", torch.float32)
                                  for chunk in x.split(ENCODE_CHUNK)])
        finally:
            generator.train(was_training)

    return {"encode_fn": lambda x: run(lambda c: generator.encode(c.float(), None), x),
            "decode_fn": lambda z: to_metric_space(run(lambda c: generator(c.float(), None), z), data)}


class SamplingContext(EvaluationContext):
    """An :class:`EvaluationContext` over a sampling function supplied by the runner.

    :param sample_fn: ``sample_fn(n, generator) -> (samples [n, *shape] on the CPU, labels or None)``, already
        passed through :func:`to_metric_space`.
    :param dataset: the dataset the generator was trained on (reference samples come from it).
    :param data: its :class:`DataInfo`.
    :param seed: the run's seed; evaluation noise comes from ``make_generator(seed, "eval")``.
    :param encode_fn: ``x -> E(x)`` and ``decode_fn``: ``z -> G(z)`` (in metric space), both on the CPU,
        given only when the architecture declares ``encoder`` (:func:`encoder_functions`); without
        them :meth:`encode` and :meth:`decode` raise.
    :param paired_fn: ``split -> (outputs, targets)``: the generator on every input of the split's
        pairs, in metric space, and the targets; given only when the run's task gives the generator
        an input. Without it :meth:`paired` raises.
    :param translate_fn: ``inputs -> outputs``: the generator on any inputs, in metric space, on the
        CPU; given with ``paired_fn``. Without it :meth:`translate` raises.
    :param real_data: a dict the caller keeps for the later contexts of the same dataset (a run's
        evaluations): the dataset's fingerprint and held-out splits go there once instead of being
        reloaded and rehashed every evaluation (the training split, the largest, is not kept).
    """

    def __init__(self, sample_fn: SampleFn, dataset: Dataset, data: DataInfo, seed: int,
                 device: str = "cpu", cache_dir: str | None = None, encode_fn: CodeFn | None = None,
                 decode_fn: CodeFn | None = None, real_data: dict | None = None,
                 paired_fn: Callable[[str], tuple[torch.Tensor, torch.Tensor]] | None = None,
                 translate_fn: CodeFn | None = None):
        self._sample_fn = sample_fn
        self._paired_fn = paired_fn
        self._translate_fn = translate_fn
        self._pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._encode_fn, self._decode_fn = encode_fn, decode_fn
        self.dataset = dataset
        self.data = data
        self.seed = int(seed)
        self.device = device
        self.cache_dir = str(cache_dir) if cache_dir is not None else str(paths.cache_dir())
        self._samples: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._real = real_data if real_data is not None else {}
        self._references: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}

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

    # -- the encoder (architectures declaring one) -------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self._encode_fn is None:
            return super().encode(x)
        x = torch.as_tensor(x)
        if tuple(x.shape[1:]) != tuple(self.data.shape):
            raise ValueError(f"encode takes samples of shape [n, {', '.join(map(str, self.data.shape))}], "
                             f"got {tuple(x.shape)}")
        z = self._encode_fn(x)
        if z.dim() != 2 or z.shape[0] != x.shape[0]:
            raise ValueError(f"the encoder returned shape {tuple(z.shape)} for {x.shape[0]} samples, "
                             f"expected [n, z_dim]")
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self._decode_fn is None:
            return super().decode(z)
        x = self._decode_fn(torch.as_tensor(z))
        if tuple(x.shape) != (z.shape[0], *self.data.shape):
            raise ValueError(f"the generator returned shape {tuple(x.shape)}, "
                             f"expected {(z.shape[0], *self.data.shape)}")
        return x

    # -- (input, target) pairs (tasks giving the generator an input) ----------------------------
    def paired(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self._paired_fn is None:
            return super().paired(split)
        if split not in self._pairs:
            outputs, targets = self._paired_fn(split)
            if outputs.shape != targets.shape:
                raise ValueError(f"the generator's outputs have shape {tuple(outputs.shape)}, its targets "
                                 f"{tuple(targets.shape)}")
            self._pairs[split] = (outputs.detach().to("cpu", torch.float32), targets.to("cpu", torch.float32))
        return self._pairs[split]

    def translate(self, inputs: torch.Tensor) -> torch.Tensor:
        if self._translate_fn is None:
            return super().translate(inputs)
        inputs = torch.as_tensor(inputs)
        out = self._translate_fn(inputs)
        if out.shape[0] != inputs.shape[0]:
            raise ValueError(f"the generator returned {out.shape[0]} outputs for {inputs.shape[0]} inputs")
        return out.detach().to("cpu", torch.float32)

    # -- real samples --------------------------------------------------------------------------
    def reference(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        if split not in self._references:
            kept = self._real.setdefault("splits", {})
            self._references[split] = kept[split] if split in kept else self.dataset.load(split)
            if split != "train":
                kept[split] = self._references[split]
        return self._references[split]

    def fingerprint(self) -> str:
        """``dataset.fingerprint()``, memoised: it loads every split, so metrics must not each pay for it."""
        if "fingerprint" not in self._real:
            self._real["fingerprint"] = self.dataset.fingerprint()
        return self._real["fingerprint"]


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


class RunEvaluation:
    """Evaluation and checkpoint selection for one training run.

    ``evaluate`` scores a generator of the run on a split with the run's metrics (those that support
    its dataset; encoder metrics only for an architecture declaring ``encoder``), drawing samples as
    the trainer draws latents; ``select`` keeps the generator of the best held-out evaluation in
    ``best.pt``, judged on the primary metric. What every evaluation reads of the dataset (held-out
    splits, their fingerprint) is read once per run (``real_data``).
    """

    def __init__(self, host, spec, dataset: Dataset, trainer, device: str, records):
        self.host = host
        self.spec = spec
        self.dataset = dataset
        self.trainer = trainer
        self.device = device
        self.records = records
        self.best: dict | None = None   # {"step", "by", "value"}, saved in the run's checkpoints
        self.real_data: dict = {}

    def metrics(self) -> list[Metric]:
        data = self.dataset.info
        encoder, paired = self.trainer.architecture.encoder, self.trainer.paired
        out = []
        for name in self.spec.metrics:
            cls = self.host.metrics.get(name)
            if (cls.supports(data, self.spec.dataset) is None and (encoder or not cls.needs_encoder)
                    and (paired or not cls.needs_pairs)):
                out.append(cls())
        return out

    def evaluate(self, generator, split: str) -> tuple[list[MetricValue], dict[str, str], SamplingContext]:
        """Evaluate ``generator`` against ``split``; the training RNG state is left untouched."""
        trainer, data = self.trainer, self.dataset.info
        conditional = trainer.conditional
        codec = encoder_functions(generator, trainer.device, data) if trainer.architecture.encoder else {}
        if trainer.paired:
            codec = self.pair_functions(generator, split)

        def sample_fn(n: int, gen: torch.Generator):
            xs, ys = [], []
            was_training = generator.training
            generator.eval()
            with torch.no_grad():
                for start in range(0, n, 500):
                    m = min(500, n - start)
                    z, _ = trainer.sample_latent(m, gen)
                    y = (torch.arange(start, start + m) % data.num_classes).to(trainer.device) if conditional else None
                    xs.append(to_metric_space(generator(z.to(trainer.device), y).cpu(), data))
                    ys.append(y.cpu() if y is not None else None)
            generator.train(was_training)
            return torch.cat(xs), (torch.cat(ys) if conditional else None)

        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        codec.setdefault("sample_fn", sample_fn)
        with torch.random.fork_rng(devices=devices):
            ctx = SamplingContext(dataset=self.dataset, data=data, seed=self.spec.seed, device=self.device,
                                  cache_dir=None, real_data=self.real_data, **codec)
            values, errors = evaluate(self.metrics(), ctx, split)
        return values, errors, ctx

    def split_inputs(self, split: str) -> torch.Tensor:
        """The inputs of ``split``'s pairs, read once per run."""
        kept = self.real_data.setdefault("inputs", {})
        if split not in kept:
            kept[split] = self.dataset.load_inputs(split)
        return kept[split]

    def pair_functions(self, generator, split: str) -> dict:
        """For a task that gives the generator an input: ``sample_fn`` draws the outputs for the first
        ``n`` inputs of ``split`` (cycling through them; no noise is involved), each with its target's
        class label where the data has classes (so a classifier metric's label accuracy says whether the
        translation kept the digit), ``paired_fn`` the outputs for all of them with their targets."""
        data, device = self.dataset.info, self.trainer.device

        def outputs(inputs: torch.Tensor) -> torch.Tensor:
            was_training = generator.training
            generator.eval()
            try:
                with torch.no_grad():
                    return torch.cat([to_metric_space(generator(chunk.to(device), None).cpu(), data)
                                      for chunk in inputs.split(ENCODE_CHUNK)])
            finally:
                generator.train(was_training)

        def sample_fn(n: int, gen: torch.Generator):
            inputs = self.split_inputs(split)
            index = torch.arange(n) % inputs.shape[0]
            labels = self.dataset.load(split)[1] if data.num_classes else None
            return outputs(inputs[index]), (labels[index] if labels is not None else None)

        def paired_fn(which: str):
            return outputs(self.split_inputs(which)), self.dataset.load(which)[0]

        return {"sample_fn": sample_fn, "paired_fn": paired_fn, "translate_fn": outputs}

    def select(self, values: list[MetricValue], step: int) -> None:
        """Keep the generator of the best held-out evaluation, judged on the primary metric."""
        by_name = {v.name: v for v in values}
        # the lowest rank the metrics declared; without any, the first value evaluated
        name = primary_metric({n: v.extra.get("rank") for n, v in by_name.items()})
        v = by_name.get(name) if name is not None else (values[0] if values else None)
        if v is None or not math.isfinite(v.value):
            return
        # Ties go to the later step: mode counts tie often, and the later generator is the sharper one.
        better = self.best is None or (v.value >= self.best["value"] if v.higher_is_better else v.value <= self.best["value"])
        if better:
            self.best = {"step": step, "by": v.name, "value": v.value}
            self.records.save_best(step, self.trainer.evaluation_generator().state_dict())

    def test_scores(self) -> tuple[list[MetricValue], dict[str, str], SamplingContext, dict | None]:
        """``(values, errors, ctx, selected)`` at the run's end: the final generator on the test split,
        and ``selected``, the best held-out generator's test scores (``None`` without a selection)."""
        step = self.trainer.steps_done
        final_values, errors, ctx = self.evaluate(self.trainer.evaluation_generator(), "test")
        selected = None
        if self.best is not None and self.best["step"] == step:
            # The best held-out evaluation is the final generator: its test scores are the final ones.
            selected = {"step": step, "by": self.best["by"], "metrics": as_dict(final_values)}
        elif self.best is not None:
            G = self.trainer.evaluation_generator()
            current = {k: v.clone() for k, v in G.state_dict().items()}
            G.load_state_dict(self.records.best_generator())
            sel_values, _, _ = self.evaluate(G, "test")
            G.load_state_dict(current)
            selected = {"step": self.best["step"], "by": self.best["by"], "metrics": as_dict(sel_values)}
        return final_values, errors, ctx, selected


def as_dict(values: list[MetricValue]) -> dict[str, dict]:
    """Metric values as ``result.json`` holds them, keyed by name."""
    return {v.name: {"value": v.value, "higher_is_better": v.higher_is_better, "num_samples": v.num_samples,
                     "reference_split": v.reference_split, "extractor": v.extractor, "extra": v.extra}
            for v in values}
