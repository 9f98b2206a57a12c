"""The contract every :class:`ganbench.api.Metric` plugin must meet, as a pytest mixin::

    from ganbench.testing import MetricContract

    class TestMyMetric(MetricContract):
        plugin = MyMetric
        metric_kwargs = {"num_samples": 64}   # optional: keep it small (the runner calls MyMetric())
        datasets = (TinyDigits,)             # optional: the data to score on (default: the tiny ones)

The metric scores a stand-in generator over a tiny embedded dataset (real training samples plus
noise, passed through :func:`ganbench.evaluation.to_metric_space` as a real generator's are), through
the same :class:`ganbench.evaluation.SamplingContext` the runner uses.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Mapping

import pytest
import torch

from ganbench.api import Dataset, Metric, MetricValue
from ganbench.testing.common import PluginContract, expect
from ganbench.testing.data import TINY_DATASETS

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def evaluation_context(dataset: Dataset, seed: int = 0, noise: float = 0.1, cache_dir: str | None = None):
    """A :class:`~ganbench.evaluation.SamplingContext` whose "generator" returns training samples plus
    Gaussian noise: close to the data, not equal to it, deterministic for a seed."""
    from ganbench.evaluation import SamplingContext, to_metric_space
    train_x, train_y = dataset.load("train")

    def sample_fn(n: int, gen: torch.Generator):
        idx = torch.randint(len(train_x), (n,), generator=gen)
        x = train_x[idx] + noise * torch.randn(n, *train_x.shape[1:], generator=gen)
        return to_metric_space(x, dataset.info), None if train_y is None else train_y[idx]

    return SamplingContext(sample_fn, dataset, dataset.info, seed, device="cpu", cache_dir=cache_dir)


class MetricContract(PluginContract):
    kind = "metrics"
    metric_kwargs: ClassVar[Mapping[str, Any]] = {}
    datasets: ClassVar[tuple[type[Dataset], ...]] = TINY_DATASETS

    def pytest_generate_tests(self, metafunc):
        if "dataset_cls" in metafunc.fixturenames:
            metafunc.parametrize("dataset_cls", list(type(self).datasets), ids=[d.name for d in type(self).datasets])

    def metric(self) -> Metric:
        return self.plugin_class()(**dict(self.metric_kwargs))

    def supported_or_skip(self, dataset_cls) -> Dataset:
        cls = self.plugin_class()
        reason = cls.availability()
        if reason is not None:
            pytest.skip(f"{self.name_under_test()} is not available here: {reason}")
        reason = cls.supports(dataset_cls.info, dataset_cls.name)
        if reason is not None:
            pytest.skip(f"{self.name_under_test()} does not support {dataset_cls.name}: {reason}")
        return dataset_cls()

    # -- declarations -------------------------------------------------------------------------------
    def test_availability_and_supports_answer_none_or_reason(self, dataset_cls):
        cls = self.plugin_class()
        for answer, call in ((cls.availability(), "availability()"),
                             (cls.supports(dataset_cls.info, dataset_cls.name), f"supports({dataset_cls.name})")):
            expect(answer is None or (isinstance(answer, str) and answer.strip()),
                   f"{call} to return None or a one-line reason", answer)

    # -- values -------------------------------------------------------------------------------------
    @pytest.mark.parametrize("split", ["val", "test"])
    def test_compute_returns_metric_values(self, dataset_cls, split, tmp_path):
        dataset = self.supported_or_skip(dataset_cls)
        values = self.metric().compute(evaluation_context(dataset, cache_dir=str(tmp_path)), split)
        expect(isinstance(values, list) and values and all(isinstance(v, MetricValue) for v in values),
               "a non-empty list of ganbench.api.MetricValue", values)
        names = [v.name for v in values]
        expect(len(set(names)) == len(names), "distinct value names", names)
        for v in values:
            expect(NAME.match(v.name), "snake_case value names", v.name)
            expect(isinstance(v.value, (int, float)) and not math.isinf(v.value), f"{v.name}: a finite number",
                   v.value)
            expect(isinstance(v.higher_is_better, bool), f"{v.name}: higher_is_better a bool", v.higher_is_better)
            expect(isinstance(v.num_samples, int) and v.num_samples >= 0, f"{v.name}: num_samples an int >= 0",
                   v.num_samples)
            expect(v.reference_split in (split, ""), f"{v.name}: reference_split {split!r} (or '' without real data)",
                   v.reference_split)
            expect(isinstance(v.extra, dict), f"{v.name}: extra a dict", v.extra)

    def test_same_samples_same_values(self, dataset_cls, tmp_path):
        dataset = self.supported_or_skip(dataset_cls)
        runs = [[(v.name, v.value) for v in self.metric().compute(
            evaluation_context(dataset, cache_dir=str(tmp_path)), "val")] for _ in range(2)]
        same = all(a[0] == b[0] and (a[1] == b[1] or (math.isnan(a[1]) and math.isnan(b[1])))
                   for a, b in zip(*runs)) and len(runs[0]) == len(runs[1])
        expect(same, "the same values from two evaluations of the same samples", runs)
