"""FID, KID, IS and precision/recall through torch-fidelity 0.4.0, with its traps handled.

One entry point, :func:`fidelity_metrics`, used by the ``lenet_fidelity``, ``inception_fidelity``,
``dinov2_fidelity`` and ``clip_fidelity`` metric plugins. The traps (measured; see notes/environment.md and notes/metrics-protocols.md §1):

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
* A metric that cannot run at this N is returned as NaN with ``extra["skipped"]`` (the reason), so
  the record says why it is missing rather than silently dropping it.
* KID asserts ``kid_subset_size`` <= samples per side: the subset size is ``min(1000, n_gen, n_ref)``
  with 100 subsets, or 1 subset when it is both whole sides (all subsets are then the same sets,
  e.g. 1000 vs mnist5k's 1000 test digits; ``extra["std"]`` is then 0). KID is skipped below
  ``KID_SUBSET_MIN``.
* FID comes from ``sum(sqrt(eigvals(S1 S2)))`` in float64; for near-identical sets round-off can make
  it slightly negative. We record the raw value, never clip it, so a negative FID reads as "equal
  up to numerical noise". With ``n`` <= feature dimension the covariances are singular and FID is
  biased upwards; ``extra["rank_deficient"]`` flags that.
* KID is unbiased, so for two samples of one distribution it scatters around 0 and can be negative.
  Its units are those of the extractor's features cubed: LeNet's pre-activation features are large
  (real-vs-real mnist5k KID came out between -40 and -3 for different evaluators, uniform noise
  near +860, at N = 1000), Inception's are small. Compare KID only under one extractor name.
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
KID_SE_BLOCK = 1024      # rows of the pair matrix held at once for KID's standard error
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
                     batch_size: int = 64, extra: dict | None = None, fid_name: str = "fid") -> list[MetricValue]:
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
    :param fid_name: prefix of the Fréchet distance's name: ``fd`` gives ``fd_<key>`` (FD_DINOv2, FD_CLIP:
        the literature keeps "FID" for Inception features).
    """
    import torch_fidelity

    real, _ = ctx.reference(split)
    if max_reference is not None:
        real = real[:max_reference]
    n_ref = len(real)
    n = int(num_samples or n_ref)
    fake = ctx.sample(n)
    label = extractor_label or extractor

    skipped: dict[str, str] = {}  # metric -> why it could not run at this N
    kid_subset = min(KID_SUBSET_MAX, n, n_ref)
    if kid and kid_subset < KID_SUBSET_MIN:
        skipped["kid"] = (f"KID needs at least {KID_SUBSET_MIN} samples per side for a subset; "
                          f"have {n} generated and {n_ref} real")
        kid = False
    # When a subset is a whole side on both sides, every subset is the same set in another order and
    # MMD^2 is order-invariant: one subset gives exactly the same mean (and std 0) at 1/100 the cost.
    kid_subsets = 1 if kid_subset == n == n_ref else KID_SUBSETS
    if isc and n < ISC_SPLITS:
        skipped["is"] = f"IS needs at least {ISC_SPLITS} samples (one per split); have {n}"
        isc = False
    if prc and min(n, n_ref) <= PRC_NEIGHBORHOOD:
        skipped["precision"] = skipped["recall"] = (
            f"precision/recall need more than k={PRC_NEIGHBORHOOD} samples per side; have {n} and {n_ref}")
        prc = False

    res, kid_features = {}, None
    if isc or fid or kid or prc:
        res, kid_features = _calculate(
            input1=TensorSamples(convert(fake)),
            input2=TensorSamples(convert(real)),
            input1_cache_name=None,  # never name the generated side (see the module docstring)
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
            kid_subsets=kid_subsets,
            kid_subset_size=max(kid_subset, 1),
            prc_neighborhood=PRC_NEIGHBORHOOD,
            rng_seed=RNG_SEED,
        )

    common = {"reference_samples": n_ref, **(extra or {})}

    def value(name: str, v: float, higher: bool, **more) -> MetricValue:
        return MetricValue(name=f"{name}_{key}", value=float(v), higher_is_better=higher, num_samples=n,
                           reference_split=split, extractor=label, extra={**common, **more})

    out: list[MetricValue] = []
    if fid:
        fid_extra = {}
        if res[torch_fidelity.KEY_METRIC_FID] < 0:
            fid_extra["note"] = "raw value below 0: the two sets are equal up to round-off"
        if feature_dim is not None and min(n, n_ref) <= feature_dim:
            fid_extra["rank_deficient"] = True
        out.append(value(fid_name, res[torch_fidelity.KEY_METRIC_FID], False, **fid_extra))
    if kid:
        out.append(value("kid", res[torch_fidelity.KEY_METRIC_KID_MEAN], False,
                         std=res[torch_fidelity.KEY_METRIC_KID_STD], subset_size=kid_subset, subsets=kid_subsets,
                         se=kid_standard_error(*kid_features)))
    if isc:
        out.append(value("is", res[torch_fidelity.KEY_METRIC_ISC_MEAN], True,
                         std=res[torch_fidelity.KEY_METRIC_ISC_STD], splits=ISC_SPLITS))
    if prc:
        out.append(value("precision", res[torch_fidelity.KEY_METRIC_PRECISION], True, k=PRC_NEIGHBORHOOD))
        out.append(value("recall", res[torch_fidelity.KEY_METRIC_RECALL], True, k=PRC_NEIGHBORHOOD))
    higher = {"kid": False, "is": True, "precision": True, "recall": True}
    out.extend(value(name, math.nan, higher[name], skipped=why) for name, why in skipped.items())
    return out


def _calculate(**kwargs) -> tuple[dict, tuple | None]:
    """``torch_fidelity.calculate_metrics`` for one feature extractor, made of the library's own steps,
    so that the features it extracts once also serve KID's standard error: ``(metrics, (generated,
    real) KID-layer features or None)``."""
    from torch_fidelity.helpers import get_kwarg
    from torch_fidelity.metric_fid import fid_featuresdict_to_statistics_cached, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_featuresdict_to_metric
    from torch_fidelity.metric_kid import kid_featuresdict_to_metric
    from torch_fidelity.metric_prc import prc_featuresdict_to_metric
    from torch_fidelity.utils import (create_feature_extractor, extract_featuresdict_from_input_id_cached,
                                      get_cacheable_input_name, resolve_feature_extractor,
                                      resolve_feature_layer_for_metric)

    wanted = [m for m in ("isc", "fid", "kid", "prc") if get_kwarg(m, kwargs)]
    layers = {m: resolve_feature_layer_for_metric(m, **kwargs) for m in wanted}
    extractor = create_feature_extractor(resolve_feature_extractor(**kwargs), sorted(set(layers.values())), **kwargs)
    generated = extract_featuresdict_from_input_id_cached(1, extractor, **kwargs)
    real = extract_featuresdict_from_input_id_cached(2, extractor, **kwargs)
    out: dict = {}
    if "isc" in layers:
        out.update(isc_featuresdict_to_metric(generated, layers["isc"], **kwargs))
    if "fid" in layers:
        stats = [fid_featuresdict_to_statistics_cached(feats, get_cacheable_input_name(i, **kwargs), extractor,
                                                       layers["fid"], **kwargs)
                 for i, feats in ((1, generated), (2, real))]
        out.update(fid_statistics_to_metric(*stats, get_kwarg("verbose", kwargs)))
    if "kid" in layers:
        out.update(kid_featuresdict_to_metric(generated, real, layers["kid"], **kwargs))
    if "prc" in layers:
        out.update(prc_featuresdict_to_metric(generated, real, layers["prc"], **kwargs))
    kid_features = (generated[layers["kid"]], real[layers["kid"]]) if "kid" in layers else None
    return out, kid_features


def kid_standard_error(generated: torch.Tensor, real: torch.Tensor) -> float:
    """Standard error of the unbiased MMD^2 (KID) of ``generated`` vs ``real`` features, from the exact
    variance of a degree-2 U-statistic (Hoeffding 1948):
    Var(U) = 2 / (m (m - 1)) * (2 (m - 2) zeta_1 + zeta_2), with the KID paper's kernel
    k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018, "Demystifying MMD GANs", who also use the
    U-statistic's variance), h(i, j) = k(x_i, x_j) + k(y_i, y_j) - k(x_i, y_j) - k(x_j, y_i) over the
    first m = min(n_generated, n_real) pairs, zeta_2 by plug-in and zeta_1 from the row means of h with
    their own noise removed. Under equal distributions zeta_1 vanishes and zeta_2 carries the error,
    so the real-data row gets an honest one (checked against repeated samples in the tests)."""
    m = min(len(generated), len(real))
    if m < 4:
        return math.nan
    x, y = generated[:m].double(), real[:m].double()
    d = x.shape[1]
    kernel = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    row_sums, square_sum = [], 0.0
    for a in range(0, m, KID_SE_BLOCK):  # rows of h a block at a time: 10k x 10k would be 800 MB
        b = min(m, a + KID_SE_BLOCK)
        h = kernel(x[a:b], x) + kernel(y[a:b], y) - kernel(x[a:b], y) - kernel(y[a:b], x)
        h[torch.arange(b - a), torch.arange(a, b)] = 0  # i = j is not a pair
        row_sums.append(h.sum(1))
        square_sum += float((h ** 2).sum())
    rows = torch.cat(row_sums)
    u = float(rows.sum()) / (m * (m - 1))
    zeta2 = square_sum / (m * (m - 1)) - u ** 2
    # A row mean of h carries the noise of its m - 1 terms, (zeta_2 - zeta_1) / (m - 1): taken out,
    # or under equal distributions (zeta_1 = 0) the error comes out twice too large.
    zeta1 = (float(((rows / (m - 1)) ** 2).mean()) - u ** 2 - zeta2 / (m - 1)) * (m - 1) / (m - 2)
    # zeta_1 is a variance (of E[h | x_i, y_i]), so a negative estimate is noise around 0: kept, it can
    # outweigh zeta_2 (features of real digits: 2 (m - 2) zeta_1 = -4.5e8 against zeta_2 = 3.1e8) and
    # leave the real-data row with a standard error of 0. Its positive part is used.
    var = 2.0 / (m * (m - 1)) * (2 * (m - 2) * max(zeta1, 0.0) + zeta2)
    return math.sqrt(max(var, 0.0))


def extract_features(extractor: str, x: torch.Tensor, layer: str, weights_path: str | None = None,
                     batch_size: int = 64) -> torch.Tensor:
    """Features of ``x`` exactly as torch-fidelity extracts them (for tests and diagnostics)."""
    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

    fe = create_feature_extractor(extractor, [layer], cuda=False, verbose=False,
                                  feature_extractor_weights_path=weights_path)
    feats = get_featuresdict_from_dataset(TensorSamples(x), fe, batch_size, False, True, False)
    return feats[layer]
