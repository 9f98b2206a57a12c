"""The offline evaluator: accuracy on held-out digits, deterministic cache keyed by content, extractor."""

from __future__ import annotations


import torch

from ganbench import evaluators
from ganbench.api import DataInfo, Dataset
from ganbench_plugins.datasets.mnist5k import Mnist5k

# Measured: 97.3 % on mnist5k's 1000 test digits (LeNet 16/32/128, batch 32, 8 epochs, 1 thread, ~10 s).
MIN_TEST_ACCURACY = 0.95


class Synthetic(Dataset):
    """Tiny data whose fingerprint hashes its content (mnist5k's hashes its recipe): for cache-key tests."""

    name = "synthetic_digits_test"
    info = DataInfo(shape=(1, 28, 28), num_classes=10)

    def load(self, split):
        gen = torch.Generator().manual_seed(("train", "val", "test").index(split))
        return torch.rand(20, 1, 28, 28, generator=gen) * 2 - 1, torch.randint(10, (20,), generator=gen)


def test_accuracy_on_held_out_split(evaluator):
    assert evaluator.accuracy >= MIN_TEST_ACCURACY, evaluator.meta["accuracy"]
    assert evaluator.meta["config"]["threads"] == 1
    assert evaluator.meta["train_samples"] == 3000


def test_cache_is_reused_not_retrained(evaluator):
    mtime = evaluator.path.stat().st_mtime_ns
    calls = evaluators.TRAIN_CALLS
    evaluators.clear_memory()  # force a read from disk rather than the in-process memo
    again = evaluators.get_evaluator(Mnist5k())
    assert evaluators.TRAIN_CALLS == calls
    assert again.path.stat().st_mtime_ns == mtime
    assert again.name == evaluator.name and again is not evaluator
    x, _ = Mnist5k().load("test")
    assert torch.equal(again.logits(x[:50]), evaluator.logits(x[:50]))


def test_cache_key_depends_on_content_and_recipe(evaluator):
    class Shifted(Synthetic):
        def load(self, split):
            x, y = super().load(split)
            return (x.flip(-1) if split == "train" else x), y

    fp, fp_other = Synthetic().fingerprint(), Shifted().fingerprint()
    assert fp != fp_other
    cfg = evaluators.DEFAULT_CONFIG
    assert cfg.key(fp) != cfg.key(fp_other)
    assert cfg.key(fp) != evaluators.EvaluatorConfig(epochs=cfg.epochs + 1).key(fp)
    assert cfg.key(Mnist5k().fingerprint()) in evaluator.path.name
    assert evaluator.meta["data_fingerprint"] == Mnist5k().fingerprint()


def test_name_carries_weights_hash(evaluator):
    assert evaluator.name == f"lenet-mnist5k-{evaluator.weights_hash[:8]}"
    assert evaluators.weights_hash(evaluator.net.state_dict()) == evaluator.weights_hash


def test_feature_extractor_registration_and_outputs(evaluator):
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
    from torch_fidelity.utils import create_feature_extractor

    name = evaluator.register_extractor()
    assert evaluator.register_extractor() == name  # a second registration is a no-op, not an error
    assert name in FEATURE_EXTRACTORS_REGISTRY
    fe = create_feature_extractor(name, ["logits", "fc"], cuda=False, verbose=False)
    x, _ = Mnist5k().load("val")
    logits, feats = fe(x[:8])  # tuple in the requested order
    assert logits.shape == (8, 10) and feats.shape == (8, 128)
    u8 = ((x[:8] + 1) * 127.5).round().to(torch.uint8)
    assert torch.allclose(fe(u8)[0], logits, atol=1e-3)


def test_stacked_channels_are_classified_separately(evaluator):
    x, y = Mnist5k().load("test")
    stacked = torch.cat([x[:30], x[30:60], x[60:90]], dim=1)
    per_channel = evaluator.predict_channels(stacked)
    assert torch.equal(per_channel[:, 1], evaluator.predict(x[30:60]))
    assert float((per_channel[:, 0] == y[:30]).float().mean()) > 0.8
