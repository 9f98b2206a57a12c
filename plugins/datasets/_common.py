"""What the built-in dataset plugins share: split names and seeds, scaling, stratified splits, the
decoded-data cache, 2D Gaussian mixtures and the base of the torchvision-backed loaders.

Not an entry point: it registers nothing. torchvision, PIL, mlxtend and scikit-learn are imported
inside functions, because every plugin module is imported whenever ganbench loads its plugins.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, ClassVar, Iterable, Sequence

import numpy as np
import torch

from ganbench import paths
from ganbench.api import DataInfo, Dataset
from ganbench.errors import DataUnavailableError, UsageError

SPLITS = ("train", "val", "test")


def check_split(dataset: str, split: str) -> None:
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r} for dataset {dataset!r}; valid: {', '.join(SPLITS)}")


def split_seed(dataset: str, purpose: str) -> int:
    """A fixed seed per (dataset, purpose): splits never share a random stream, and renaming nothing
    changes any of them. Derived from a hash, not ``hash()``, which is salted per process."""
    digest = hashlib.sha256(f"ganbench-data:{dataset}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def to_unit_range(values: np.ndarray, max_value: float = 255.0) -> torch.Tensor:
    """Integers in [0, max_value] -> float32 in [-1, 1] (0 -> -1 and max_value -> 1 exactly)."""
    x = torch.from_numpy(np.ascontiguousarray(values)).to(torch.float32)
    return x.div_(max_value / 2).sub_(1.0)


def labels_tensor(labels: np.ndarray | None) -> torch.Tensor | None:
    return None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64).copy())


def stratified_split(labels: np.ndarray | None, sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """Disjoint index sets of the given sizes, each in a random order.

    With labels, every part gets (nearly) the same class proportions: after a seeded shuffle the
    classes are interleaved by each sample's rank within its class, so any prefix is stratified.
    Each part is shuffled again afterwards so that no periodic label pattern is left in it.
    """
    n = int(len(labels)) if labels is not None else int(sum(sizes))
    if sum(sizes) != n:
        raise ValueError(f"split sizes {list(sizes)} do not add up to {n}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    if labels is not None:
        labels = np.asarray(labels, dtype=np.int64)
        order = order[np.argsort(labels[order], kind="stable")]
        grouped = labels[order]
        counts = np.bincount(grouped)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(n) - starts[grouped]
        order = order[np.argsort(rank / counts[grouped], kind="stable")]
    bounds = np.cumsum([0, *sizes])
    return [rng.permutation(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


# ---------------------------------------------------------------------------------------------------
# Cache of decoded data under ganbench.paths.cache_dir(), keyed by content hashes.

def file_digest(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def cached_arrays(key: str, build: Callable[[], dict[str, np.ndarray]],
                  members: Iterable[str]) -> dict[str, np.ndarray]:
    """The ``members`` (those present) of the arrays that ``build`` returns, cached as ``<key>.npz``.

    The file appears atomically (temp file + os.replace), so concurrent runs never read half a file;
    a file that cannot be read is rebuilt. Only the requested members are read back.
    """
    folder = paths.cache_dir() / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{key}.npz"
    members = list(members)
    try:
        with np.load(target, allow_pickle=False) as stored:
            return {m: stored[m] for m in members if m in stored.files}
    except Exception:  # absent, truncated or foreign: rebuilding is always safe
        pass
    arrays = build()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {m: arrays[m] for m in members if m in arrays}


# ---------------------------------------------------------------------------------------------------
# 2D Gaussian mixtures (ring, grid).

_MIXTURE_SPLITS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


class GaussianMixture2D(Dataset):
    """Base of the 2D mixtures. Points stay in the protocol's coordinates (not rescaled to [-1, 1]),
    so ``modes`` and ``mode_std`` are exactly the numbers the papers' metrics use."""

    modes: ClassVar[torch.Tensor]            # [K, 2] component means
    mode_std: ClassVar[float]                # isotropic standard deviation of every component
    # 100k training points as in PacGAN's 2D setup; 2,500 per evaluation split, the number of
    # generated samples VEEGAN and PacGAN score, so real and fake sets are the same size.
    sizes: ClassVar[dict[str, int]] = {"train": 100_000, "val": 2_500, "test": 2_500}

    @staticmethod
    def make_info(num_modes: int) -> DataInfo:
        # Labels are the component index, for checks only: the benchmark is unconditional.
        return DataInfo(shape=(2,), num_classes=0, kind="points", num_modes=num_modes)

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_split(self.name, split)
        # A process loads a split tens of times (trainer, every evaluation context, fingerprints);
        # drawing 100k points each time cost more than a 300-step run's evaluations. Callers get
        # copies, so no one can change another caller's data.
        key = (type(self), split, self.sizes[split], float(self.mode_std), self.modes.numpy().tobytes())
        if key not in _MIXTURE_SPLITS:
            _MIXTURE_SPLITS[key] = self._points(self.sizes[split], np.random.default_rng(split_seed(self.name, split)))
        x, y = _MIXTURE_SPLITS[key]
        return x.clone(), y.clone()

    def draw(self, split: str, n: int, seed: int = 0):
        """Fresh points of the mixture (never in any split), any ``n``."""
        check_split(self.name, split)
        x, y = self._points(n, np.random.default_rng([split_seed(self.name, f"draw:{split}"), int(seed)]))
        return x, y, f"{n} fresh samples of the mixture"

    def _points(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        means = self.modes.numpy().astype(np.float64)
        component = rng.integers(len(means), size=n)
        points = means[component] + self.mode_std * rng.standard_normal((n, 2))
        return torch.from_numpy(points.astype(np.float32)), labels_tensor(component)


# ---------------------------------------------------------------------------------------------------
# Datasets read through torchvision from ``root`` (or ganbench.paths.data_root()).

def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class TorchvisionDataset(Dataset):
    """Base of the datasets that live on disk in torchvision's layout.

    Decoded uint8 splits are cached under ``cache_dir()/datasets``, keyed by :meth:`fingerprint`,
    which hashes file names and sizes rather than contents so that it costs a directory listing.
    """

    embedded = False
    folder: ClassVar[str]                    # the directory under the root that torchvision reads
    required: ClassVar[tuple[str, ...]]      # paths under ``folder`` that must exist
    download_size: ClassVar[str]             # shown in the availability message
    place_hint: ClassVar[str] = "place the extracted archive there"
    recipe_version: ClassVar[int] = 1        # bump when decoding/splitting changes: part of the cache key

    # -- where the files are -----------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return Path(self.root) if self.root else paths.data_root()

    def missing(self) -> list[str]:
        base = self.data_dir / self.folder
        if not base.is_dir():
            return [self.folder]
        return [f"{self.folder}/{r}" for r in self.required if not (base / r).exists()]

    def missing_message(self) -> str | None:
        missing = self.missing()
        if not missing:
            return None
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return (f"{self.name} is not under {self.data_dir} (expected {missing[0]}{more}); run with --download "
                f"to fetch it ({self.download_size}) or {self.place_hint}")

    def download_blocker(self) -> str | None:
        """Why ``--download`` cannot work here (a missing optional package), or ``None``."""
        return None

    def availability(self) -> str | None:
        message = self.missing_message()
        if message is None:
            return None
        if self.download:
            return self.download_blocker()
        return message

    # -- reading -----------------------------------------------------------------------------------
    def recipe(self) -> str:
        """Everything besides the files that decides what :meth:`load` returns."""
        return f"v{self.recipe_version}"

    def open_torchvision(self, make: Callable[[], object]) -> object:
        """Build a torchvision dataset, turning its errors into one-line DataUnavailableErrors."""
        try:
            return make()
        except (RuntimeError, OSError, ValueError) as exc:
            raise DataUnavailableError(
                f"torchvision could not read {self.name} under {self.data_dir} ({_first_line(exc)}); "
                f"delete {self.folder} and run with --download, or {self.place_hint}") from exc

    def fetch(self) -> None:
        """Download into ``data_dir`` (only called with download=True and files missing)."""
        raise NotImplementedError

    def decode(self) -> dict[str, np.ndarray]:
        """``x_<split>`` uint8 [N, C, H, W] and, if labelled, ``y_<split>`` int64 for the three splits."""
        raise NotImplementedError

    def ensure_files(self) -> None:
        message = self.missing_message()
        if message is None:
            return
        if not self.download:
            raise DataUnavailableError(message)
        blocker = self.download_blocker()
        if blocker:
            raise DataUnavailableError(blocker)
        try:
            self.fetch()
        except DataUnavailableError:
            raise
        except Exception as exc:  # network errors come in many types (URLError, HTTPError, RuntimeError)
            raise DataUnavailableError(f"downloading {self.name} into {self.data_dir} failed ({_first_line(exc)}); "
                                       f"{self.place_hint} instead") from exc
        message = self.missing_message()
        if message:
            raise DataUnavailableError(message)

    def load(self, split: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        check_split(self.name, split)
        self.ensure_files()
        arrays = cached_arrays(f"{self.name}-{self.fingerprint()}", self.decode, [f"x_{split}", f"y_{split}"])
        return to_unit_range(arrays[f"x_{split}"]), labels_tensor(arrays.get(f"y_{split}"))

    def fingerprint(self) -> str:
        cached = getattr(self, "_fingerprint", None)
        if cached is not None:
            return cached
        self.ensure_files()
        h = hashlib.sha256(f"{self.name}|{self.recipe()}".encode())
        base = self.data_dir / self.folder
        for rel in self.listed_paths():
            path = base / rel
            if path.is_dir():
                for dirpath, dirnames, filenames in os.walk(path):
                    dirnames.sort()
                    for fname in sorted(filenames):
                        full = Path(dirpath, fname)
                        h.update(f"{full.relative_to(base)}:{full.stat().st_size}\n".encode())
            else:
                h.update(f"{rel}:{path.stat().st_size}\n".encode())
        self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def listed_paths(self) -> Sequence[str]:
        """The paths (under ``folder``) whose names and sizes make up the fingerprint."""
        return self.required


class OfficialSplitDataset(TorchvisionDataset):
    """A torchvision dataset with an official train/test split. ``val`` is a fixed, class-stratified
    slice of ``val_size`` samples held out of the official train split; ``test`` is the official test."""

    torchvision_class: ClassVar[str]         # attribute of torchvision.datasets taking (root, train, download)
    val_size: ClassVar[int] = 5000

    def recipe(self) -> str:
        return f"{super().recipe()}|val{self.val_size}"

    def _tv(self, train: bool, download: bool):
        import torchvision.datasets as tvd
        cls = getattr(tvd, self.torchvision_class)
        if download:  # ensure_files() words download failures itself
            return cls(str(self.data_dir), train=train, download=True)
        return self.open_torchvision(lambda: cls(str(self.data_dir), train=train, download=False))

    def fetch(self) -> None:
        self._tv(train=True, download=True)
        self._tv(train=False, download=True)

    def read(self, train: bool) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images [N, C, H, W] and int64 labels of the official train or test split."""
        raise NotImplementedError

    def decode(self) -> dict[str, np.ndarray]:
        x_train, y_train = self.read(train=True)
        x_test, y_test = self.read(train=False)
        if not 0 < self.val_size < len(y_train):
            raise DataUnavailableError(f"{self.name}: the official train split has {len(y_train)} samples, "
                                       f"too few to hold out {self.val_size} for validation")
        train, val = stratified_split(y_train, [len(y_train) - self.val_size, self.val_size],
                                      split_seed(self.name, "val"))
        return {"x_train": x_train[train], "y_train": y_train[train],
                "x_val": x_train[val], "y_val": y_train[val],
                "x_test": x_test, "y_test": y_test.astype(np.int64)}


# ---------------------------------------------------------------------------------------------------
# Image decoding for folders of image files (CelebA, image_folder).

def decode_images(files: Sequence[str | os.PathLike], size: int, crop: int | None = None) -> np.ndarray:
    """RGB uint8 [N, 3, size, size]: a centre square (``crop`` pixels, or the shorter side) resized to
    ``size`` with an antialiasing filter. Threads, because PIL releases the GIL while decoding."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    def one(path) -> np.ndarray:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            side = min(crop or min(w, h), w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
            im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)

    out = np.empty((len(files), 3, size, size), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for i, img in enumerate(pool.map(one, files, chunksize=64)):
            out[i] = img
    return out


class MnistFamily(OfficialSplitDataset):
    """MNIST-format datasets: torchvision reads the decompressed idx files in ``<folder>/raw``."""

    required = ("raw/train-images-idx3-ubyte", "raw/train-labels-idx1-ubyte",
                "raw/t10k-images-idx3-ubyte", "raw/t10k-labels-idx1-ubyte")
    place_hint = "place the decompressed idx files in its raw/ folder"

    def read(self, train: bool) -> tuple[np.ndarray, np.ndarray]:
        ds = self._tv(train, download=False)
        return ds.data.numpy()[:, None], ds.targets.numpy().astype(np.int64)


class CifarFamily(OfficialSplitDataset):
    """CIFAR-format datasets (pickled batches). torchvision checks every batch's md5 when it opens them."""

    def read(self, train: bool) -> tuple[np.ndarray, np.ndarray]:
        ds = self._tv(train, download=False)
        return np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)), np.asarray(ds.targets, dtype=np.int64)
