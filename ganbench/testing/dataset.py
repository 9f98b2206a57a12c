"""The contract every :class:`ganbench.api.Dataset` plugin must meet, as a pytest mixin::

    from ganbench.testing import DatasetContract

    class TestMyData(DatasetContract):
        plugin = MyData
        dataset_kwargs = {"root": "/data"}   # optional: what the runner would pass (root, download)

A dataset that is not available on this machine (``availability()`` gives a reason) skips the tests
that need its samples, with that reason.
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import pytest
import torch

from ganbench.api import DataInfo, Dataset
from ganbench.testing.common import PluginContract, expect

SPLITS = ("train", "val", "test")


class DatasetContract(PluginContract):
    kind = "datasets"
    requires_paper = False   # benchmark data need not come from a paper
    dataset_kwargs: ClassVar[Mapping[str, Any]] = {}

    def dataset(self) -> Dataset:
        return self.plugin_class()(**dict(self.dataset_kwargs))

    def available_dataset(self) -> Dataset:
        ds = self.dataset()
        reason = ds.availability()
        if reason is not None:
            pytest.skip(f"{self.name_under_test()} is not available here: {reason}")
        return ds

    # -- declarations -------------------------------------------------------------------------------
    def test_info_is_declared(self):
        info = getattr(self.plugin_class(), "info", None)
        expect(isinstance(info, DataInfo), "a class attribute `info` holding a ganbench.api.DataInfo", info)
        expect(info.kind in ("image", "points", "tokens"), "info.kind 'image', 'points' or 'tokens'", info.kind)
        expect(all(isinstance(d, int) and d > 0 for d in info.shape), "a shape of positive ints", info.shape)
        if info.is_image:
            expect(len(info.shape) == 3, "an image shape (C, H, W)", info.shape)
        if info.kind == "tokens":
            expect(len(info.shape) == 1 and info.vocab_size > 0, "token sequences: shape (L,) and a vocab_size",
                   (info.shape, info.vocab_size))

    def test_availability_is_none_or_a_reason(self):
        reason = self.dataset().availability()
        expect(reason is None or (isinstance(reason, str) and reason.strip()),
               "availability() to return None or one line saying how to get the data", reason)

    # -- samples ------------------------------------------------------------------------------------
    @pytest.mark.parametrize("split", SPLITS)
    def test_split_has_the_declared_shape_and_range(self, split):
        ds = self.available_dataset()
        info = ds.info
        x, y = ds.load(split)
        expect(isinstance(x, torch.Tensor) and x.dtype == torch.float32, f"float32 samples for {split!r}",
               getattr(x, "dtype", type(x)))
        expect(x.dim() >= 1 and len(x) > 0 and tuple(x.shape[1:]) == tuple(info.shape),
               f"samples of shape [N, {', '.join(map(str, info.shape))}] for {split!r}", tuple(x.shape))
        expect(torch.isfinite(x).all(), f"finite samples in {split!r}")
        if info.value_range is not None:
            low, high = info.value_range
            expect(float(x.min()) >= low and float(x.max()) <= high,
                   f"values within the declared value_range {info.value_range}", (float(x.min()), float(x.max())))
        if info.kind == "tokens":
            expect(bool((x == x.round()).all()) and float(x.min()) >= 0 and float(x.max()) < info.vocab_size,
                   f"whole token ids in [0, {info.vocab_size}) in {split!r}", (float(x.min()), float(x.max())))
        if ds.sizes and split in ds.sizes:
            expect(len(x) == ds.sizes[split], f"{ds.sizes[split]} samples in {split!r} as `sizes` declares", len(x))
        if info.num_classes:
            expect(y is not None and len(y) == len(x), f"one label per sample in {split!r}",
                   None if y is None else len(y))
            expect(not torch.is_floating_point(y) and int(y.min()) >= 0 and int(y.max()) < info.num_classes,
                   f"integer labels in [0, {info.num_classes})", (y.dtype, int(y.min()), int(y.max())))
        elif y is not None:  # unconditional data may still carry labels (a 2D mixture's mode of each point)
            expect(len(y) == len(x) and not torch.is_floating_point(y),
                   f"labels, when given, to be integers, one per sample in {split!r}", (y.dtype, len(y)))

    def test_load_is_deterministic(self):
        a, b = self.available_dataset(), self.dataset()
        for split in SPLITS:
            (xa, ya), (xb, yb) = a.load(split), b.load(split)
            expect(torch.equal(xa, xb) and (ya is None) == (yb is None) and (ya is None or torch.equal(ya, yb)),
                   f"two loads of {split!r} to return the same tensors")

    def test_draw_returns_n_samples_and_says_how(self):
        ds = self.available_dataset()
        for n in (3, 2 * len(ds.load("test")[0]) + 1):   # fewer, and more than the split holds
            x, y, how = ds.draw("test", n, seed=0)
            expect(len(x) == n and tuple(x.shape[1:]) == tuple(ds.info.shape),
                   f"draw('test', {n}) to return {n} samples of the declared shape", tuple(x.shape))
            expect(isinstance(how, str) and how.strip(), "a phrase saying how the samples were drawn", how)
            x2, _, _ = ds.draw("test", n, seed=0)
            expect(torch.equal(x, x2), f"draw('test', {n}, seed=0) to be deterministic")

    def test_fingerprint_is_a_stable_string(self):
        ds = self.available_dataset()
        fp = ds.fingerprint()
        expect(isinstance(fp, str) and fp, "a non-empty string from fingerprint()", fp)
        expect(fp == self.dataset().fingerprint(), "the same fingerprint for the same data", fp)

    # -- (input, target) pairs ----------------------------------------------------------------------
    def test_what_it_holds_is_declared(self):
        from ganbench.api import TASK_DATA
        cls = self.plugin_class()
        expect(cls.holds in TASK_DATA, f"`holds` one of {', '.join(TASK_DATA)}", cls.holds)
        expect((cls.holds == "pairs") == isinstance(cls.inputs, DataInfo),
               "`inputs`, a DataInfo of the input half, exactly when the dataset holds pairs", cls.inputs)
        from ganbench.api import GENERATOR_INPUTS
        if cls.holds == "pairs":
            expect(cls.pair_input in GENERATOR_INPUTS and cls.pair_input != "noise",
                   f"`pair_input`, what the input half is: one of {', '.join(GENERATOR_INPUTS[1:])}", cls.pair_input)

    @pytest.mark.parametrize("split", SPLITS)
    def test_pair_inputs_align_with_their_targets(self, split):
        if self.plugin_class().holds != "pairs":
            pytest.skip("the dataset holds no (input, target) pairs")
        ds = self.available_dataset()
        x, _ = ds.load(split)
        inputs = ds.load_inputs(split)
        expect(isinstance(inputs, torch.Tensor) and inputs.dtype == torch.float32
               and tuple(inputs.shape) == (len(x), *ds.inputs.shape),
               f"load_inputs({split!r}): one float32 input of shape {ds.inputs.shape} per target",
               (getattr(inputs, "dtype", None), tuple(getattr(inputs, "shape", ()))))
        expect(torch.isfinite(inputs).all(), f"finite inputs in {split!r}")
        expect(torch.equal(inputs, self.dataset().load_inputs(split)), f"two loads of {split!r}'s inputs to agree")
