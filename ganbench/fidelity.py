"""FID, KID, IS and precision/recall through torch-fidelity 0.4.0, with its traps handled.

One entry point, :func:`fidelity_metrics`, used by the ``lenet_fidelity`` and ``inception_fidelity``
metric plugins. The traps (measured; see notes/environment.md and notes/metrics-protocols.md §1):

* ``cuda=True`` is torch-fidelity's default; we pass ``cuda`` from the context's device.
* ``save_cpu_ram=True``: otherwise 4 DataLoader workers start on a 2-core box and precision/recall
  builds full N x N distance matrices.
* Inputs are in-memory Datasets that return bare tensors (torch-fidelity asserts ``is_tensor`` on
  item 0, so no ``(image, label)`` tuples). Generated samples come from ``ctx.sample``; the
  ``GenerativeModelModuleWrapper`` path is never used (its conditional branch calls ``np.int``,
  which NumPy >= 1.24 removed, and it would bypass our evaluation noise stream).
* ``input1`` = generated, ``input2`` = real: precision is "fakes inside the real manifold".
* Only the real side is cached, under a name made of the dataset fingerprint, split, reference
  count and the extractor's identity (torch-fidelity appends the extractor name; its cache key has no
  content hash of its own). The generated side never gets a cache name: a named generator cache
  returns the same FID for a different generator.
* KID asserts ``kid_subset_size`` <= samples per side: the subset size is ``min(1000, n_gen, n_ref)``
  and KID is skipped (a NaN value whose ``extra["skipped"]`` says why) below ``KID_MIN_SUBSET``.
* FID comes from ``sum(sqrt(eigvals(S1 S2)))`` in float64; for near-identical sets round-off can make
  it slightly negative. We record the raw value, never clip it, so a negative FID reads as "equal
  up to numerical noise". With ``n`` <= feature dimension the covariances are singular and FID is
  biased upwards; ``extra["rank_deficient"]`` flags that.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Callable

import torch

from ganbench.api import EvaluationContext, MetricValue
from ganbench.evaluation import dataset_fingerprint

KID_SUBSET_MAX = 1000   # torch-fidelity's default and the KID paper's
KID_SUBSET_MIN = 100    # below this the unbiased MMD estimate is too noisy to rank generators
KID_SUBSETS = 100
ISC_SPLITS = 10
PRC_NEIGHBORHOOD = 3
RNG_SEED = 2020          # torch-fidelity's default; fixes KID subsets and ISC shuffling


class TensorSamples(torch.utils.data.Dataset):
    """A tensor as a Dataset of bare tensors (what torch-fidelity accepts)."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float [B, C, H, W] -> uint8 [B, 3, H, W] (grey replicated), what Inception expects."""
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected [B, 1 or 3, H, W] images, got {tuple(x.shape)}")
    u8 = ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return u8.expand(-1, 3, -1, -1).contiguous() if u8.shape[1] == 1 else u8


def file_sha256(path: str | os.PathLike, _memo: dict = {}) -> str:  # noqa: B006 - deliberate memo
    """sha256 of a file, memoised by (path, size, mtime): weights files are ~100 MB."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _memo:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _memo[key] = h.hexdigest()
    return _memo[key]


def reference_cache_name(ctx: EvaluationContext, split: str, n_ref: int, extractor_id: str) -> str:
    return f"ganbench-{ctx.dataset.name}-{dataset_fingerprint(ctx)}-{split}-n{n_ref}-{extractor_id}"


def fidelity_metrics(ctx: EvaluationContext, split: str, *, extractor: str, key: str,
                     convert: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
                     num_samples: int | None = None, max_reference: int | None = None,
                     extractor_label: str | None = None, extractor_id: str | None = None,
                     weights_path: str | None = None, feature_dim: int | None = None,
                     isc: bool = True, fid: bool = True, kid: bool = True, prc: bool = True,
                     batch_size: int = 64, extra: dict | None = None) -> list[MetricValue]:
    """Compute the requested metrics of ``ctx``'s generator against ``split``.

    :param extractor: a name registered in torch-fidelity's feature-extractor registry.
    :param key: suffix of the value names: ``fid_<key>``, ``kid_<key>``, ``is_<key>``, ``precision_<key>``,
        ``recall_<key>`` ("lenet" or "inception").
    :param convert: maps [-1, 1] samples to what the extractor's ``forward`` takes.
    :param num_samples: generated samples; default = the number of reference samples used.
    :param max_reference: use only the first ``max_reference`` real samples of the split.
    :param extractor_label: what :attr:`MetricValue.extractor` records (default ``extractor``).
    :param extractor_id: identity of the weights for the reference cache name (default ``extractor``).
    :param weights_path: passed as ``feature_extractor_weights_path`` (never ``None`` for Inception:
        ``None`` means "download").
    :param feature_dim: width of the FID features, to flag rank-deficient covariances.
    :param extra: added to every value's ``extra`` (e.g. the evaluator's accuracy).
    """
    import torch_fidelity

    real, _ = ctx.reference(split)
    if max_reference is not None:
        real = real[:max_reference]
    n_ref = len(real)
    n = int(num_samples or n_ref)
    fake = ctx.sample(n)
    label = extractor_label or extractor

    kid_subset = min(KID_SUBSET_MAX, n, n_ref)
    kid_skip = None
    if kid and kid_subset < KID_SUBSET_MIN:
        kid_skip = (f"KID needs at least {KID_SUBSET_MIN} samples per side for a subset; "
                    f"have {n} generated and {n_ref} real")
        kid = False
    isc = isc and n >= ISC_SPLITS
    prc = prc and min(n, n_ref) > PRC_NEIGHBORHOOD

    kwargs = dict(
        input1=TensorSamples(convert(fake)),
        input2=TensorSamples(convert(real)),
        input1_cache_name=None,
        input2_cache_name=reference_cache_name(ctx, split, n_ref, extractor_id or extractor),
        cache_root=str(Path(ctx.cache_dir) / "fidelity"),
        cache=True,
        cuda=str(ctx.device).startswith("cuda"),
        save_cpu_ram=True,
        verbose=False,
        feature_extractor=extractor,
        feature_extractor_weights_path=weights_path,
        batch_size=batch_size,
        isc=isc, fid=fid, kid=kid, prc=prc,
        isc_splits=ISC_SPLITS,
        kid_subsets=KID_SUBSETS,
        kid_subset_size=max(kid_subset, 1),
        prc_neighborhood=PRC_NEIGHBORHOOD,
        rng_seed=RNG_SEED,
    )
    assert kwargs["input1_cache_name"] is None  # never cache the generated side (see module docstring)
    res = torch_fidelity.calculate_metrics(**kwargs) if (isc or fid or kid or prc) else {}

    common = extra

    def value(name: str, v: float, higher: bool, **extra) -> MetricValue:
        return MetricValue(name=f"{name}_{key}", value=float(v), higher_is_better=higher, num_samples=n,
                           reference_split=split, extractor=label,
                           extra={"reference_samples": n_ref, **(common or {}), **extra})

    out: list[MetricValue] = []
    if fid:
        fid_v = res[torch_fidelity.KEY_METRIC_FID]
        extra = {}
        if fid_v < 0:
            extra["note"] = "raw value below 0: the two sets are equal up to round-off"
        if feature_dim is not None and min(n, n_ref) <= feature_dim:
            extra["rank_deficient"] = True
        out.append(value("fid", fid_v, False, **extra))
    if kid:
        out.append(value("kid", res[torch_fidelity.KEY_METRIC_KID_MEAN], False,
                         std=res[torch_fidelity.KEY_METRIC_KID_STD], subset_size=kid_subset, subsets=KID_SUBSETS))
    elif kid_skip:
        out.append(value("kid", math.nan, False, skipped=kid_skip))
    if isc:
        out.append(value("is", res[torch_fidelity.KEY_METRIC_ISC_MEAN], True,
                         std=res[torch_fidelity.KEY_METRIC_ISC_STD], splits=ISC_SPLITS))
    if prc:
        out.append(value("precision", res[torch_fidelity.KEY_METRIC_PRECISION], True, k=PRC_NEIGHBORHOOD))
        out.append(value("recall", res[torch_fidelity.KEY_METRIC_RECALL], True, k=PRC_NEIGHBORHOOD))
    return out


def extract_features(extractor: str, x: torch.Tensor, layer: str, weights_path: str | None = None,
                     batch_size: int = 64) -> torch.Tensor:
    """Features of ``x`` exactly as torch-fidelity extracts them (for tests and diagnostics)."""
    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

    fe = create_feature_extractor(extractor, [layer], cuda=False, verbose=False,
                                  feature_extractor_weights_path=weights_path)
    feats = get_featuresdict_from_dataset(TensorSamples(x), fe, batch_size, False, True, False)
    return feats[layer]
