"""Near-copies of training samples (``memorized_percent``) and the data-copying test C_T.

A generator that replays its training set scores perfectly on FID, precision/recall and mode
counts: it matches the data distribution. None of them asks whether generated samples sit closer to
particular training samples than real data does. Both values here compare a generated sample's
distance to its nearest training sample with the same distance for held-out real samples, which
the generator never saw. Distances are L2 in the space of :func:`ganbench.feature_space.features`
(LeNet features for MNIST-like data, the same space as ``fid_lenet``; raw coordinates for points).

``memorized_percent`` (lower is better), in the spirit of the authenticity test of Alaa et al. 2022
("How Faithful is your Synthetic Data?", ICML) and of Meehan et al. 2020, with a held-out split as
the calibration set:

* N = number of real samples in the evaluated ``split`` ("val" or "test"), at most 10,000 (the
  first 10,000 if the split is larger); N generated samples g, the same N as ``fid_lenet``.
* d(x) = L2 distance from x to its nearest sample of the ``train`` split.
* tau = the alpha-quantile, alpha = 0.01, of {d(r) : r a real sample of ``split``} (NumPy's
  default, linearly interpolated, quantile).
* g is a near-copy when d(g) < tau (strictly); ``memorized_percent`` = 100 * near-copies / N.

A generator whose samples are as far from the training set as fresh real data would be flagged
about alpha = 1 % of the time; one that replays training samples scores 100 %. ``extra`` records
alpha, tau (``threshold``), ``compared_with = "train"`` and ``warn_above = 10.0``: the percentage
above which leaderboard tables flag the row. Why 10: under the null (generated samples behave like
held-out real ones) the share is binomial around 1 %, with a standard deviation of 0.3 points at
N = 1000 and 0.1 at N = 10,000, so 10 % is some 30 standard deviations out and never chance. It
means that, beyond the 1 % expected, at least 9 % of the samples lie closer to a training sample
than 99 % of held-out real samples do: ten times the rate of an independent sample, and a share of
near-copies large enough to matter when a table ranks the run by FID. ``reference_split`` is
``split``, the calibration set; the comparison set is always ``train``.

``data_copying_ct`` (Meehan, Chaudhuri & Dasgupta 2020, "A Non-Parametric Test to Detect
Data-Copying in Generative Models", AISTATS). C_T well below 0 means data-copying, about 0 means
no evidence of it, above 0 means the samples lie farther from the training set than real data
(underfitting); under the null it is roughly a standard normal or narrower. It is not a ranking:
the ideal is 0 (``extra["ideal"]``). It is recorded with ``higher_is_better`` True because the
column is there to catch copying, the negative side; a "best" mark on it means nothing. As
implemented here (from the authors' reference code,
``data_copying_tests.py`` in github.com/casey-meehan/data-copying, which we followed where we
could not read the paper's own text):

* cells: the training features are partitioned by k-means (``scipy.cluster.vq.kmeans2``: one
  k-means++ initialisation from ``numpy.random.default_rng(0)``, then 100 Lloyd iterations) into
  k = min(5, train size, max(1, N // 50)) cells, fitted on at most 20,000 training samples;
  held-out and generated samples go to their nearest centroid. The authors used scikit-learn's
  KMeans; scipy's gives the same kind of partition without scikit-learn's import (1.8 s a process
  on a 2-core CPU, more than a 300-step MLP run trains).
  The partition depends on the data alone, never on the generator. The authors used 50 cells
  for 10,000 samples; 5 keeps about 200 samples per cell at mnist5k's N = 1000.
* in each cell pi, L(x) = distance from x to its nearest training sample *in that cell*, and
  U = #{(i, j): L(Q_j) > L(P_i)} (ties count 1/2) over the m generated Q and n held-out P in the
  cell (``scipy.stats.mannwhitneyu``'s statistic for the generated side, counted here by binary
  search over the sorted held-out distances: importing ``scipy.stats`` costs 1.1 s a process);
  Z_U = (U - mn/2) / sqrt(mn(m + n + 1)/12). The authors' code also subtracts 0.5 from the mean
  as a continuity correction; we do not (it moves Z_U by 0.5/sqrt(mn(m+n+1)/12), below 0.001
  here).
* cells holding at most 20 generated samples are skipped (the authors' Q_m(pi) > tau with
  tau = 20/m: U's normal approximation needs some tens of samples), as are cells without
  held-out samples (they would weigh 0);
  C_T = sum_pi P_n(pi) Z_U(pi) / sum_pi P_n(pi) over the cells kept, P_n(pi) = share of the
  held-out samples in pi. If no cell is kept, C_T is NaN with ``extra["skipped"]``.

Both values are NaN with ``extra["skipped"]`` when the split has fewer than 2 samples or the train
split is empty.

Cost: in up to 8 dimensions (the 2D mixtures) nearest neighbours come from one scipy k-d tree per
cell; above that they are found in float64 with ``torch.cdist`` in chunks (a few million distances
at a time, never the full matrix). Either way the winner's distance is then recomputed directly, so
an exact copy is at distance exactly 0. The training side (features, cells, trees) and the held-out
side do not depend on the generator and are memoised in-process per dataset content, split and
extractor: later evaluations only pay for the generated side.
"""

from __future__ import annotations

import math

import torch

from ganbench import hookimpl
from ganbench.api import MetricValue
from ganbench.feature_space import KD_TREE_MAX_DIM, FeatureSpaceMetric

ALPHA = 0.01
WARN_ABOVE = 10.0          # percent; see the module docstring
MAX_SAMPLES = 10_000
MAX_CELLS = 5
SAMPLES_PER_CELL = 50      # k shrinks below MAX_CELLS so an average cell keeps about this many
MIN_GENERATED_PER_CELL = 20  # a cell counts for C_T only with more generated samples than this
KMEANS_FIT_MAX = 20_000
KMEANS_SEED = 0
KMEANS_ITERATIONS = 100
CHUNK_ELEMENTS = 1 << 22   # distances held at once: 32 MB in float64
TRAIN_BLOCK = 16_384       # training rows converted to float64 at a time


def kd_trees(train: torch.Tensor, bounds: list[int]) -> list | None:
    """One ``scipy.spatial.cKDTree`` per cell when the features are low-dimensional (the 2D mixtures),
    where a tree answers in microseconds what brute force pays 10^5 distances a query for; ``None``
    above ``KD_TREE_MAX_DIM`` dimensions, where trees lose to brute force."""
    if train.dim() != 2 or train.shape[1] > KD_TREE_MAX_DIM or len(train) == 0:
        return None
    from scipy.spatial import cKDTree

    rows = train.double().numpy()
    return [cKDTree(rows[bounds[j]:bounds[j + 1]]) if bounds[j] < bounds[j + 1] else None
            for j in range(len(bounds) - 1)]


def nearest_per_cell(queries: torch.Tensor, train: torch.Tensor, bounds: list[int],
                     device: str = "cpu", trees: list | None = None) -> torch.Tensor:
    """``[Nq, k]`` float64: distance from each query to its nearest training sample in each cell.

    ``train`` is sorted by cell, cell j being rows ``bounds[j]:bounds[j + 1]``; an empty cell gives
    inf. The search runs through ``trees`` (:func:`kd_trees`) when given, else in float64 chunks
    through ``torch.cdist``; either way the winner's distance is then recomputed as ``||q - t||``
    directly, which is exact for copies (0) and for hand-made data, and the same in both searches.
    """
    k = len(bounds) - 1
    nq, n = len(queries), len(train)
    best = torch.full((nq, k), math.inf, dtype=torch.float64)
    if nq == 0 or n == 0:
        return best
    arg = torch.zeros((nq, k), dtype=torch.long)
    t_rows = min(n, TRAIN_BLOCK)
    q_rows = max(1, CHUNK_ELEMENTS // t_rows)
    if trees is not None:
        q = queries.double().numpy()
        for j, tree in enumerate(trees):
            if tree is not None:
                arg[:, j] = torch.from_numpy(tree.query(q, k=1, workers=torch.get_num_threads())[1].astype("int64")) + bounds[j]
        return _exact_distances(queries, train, bounds, arg, best, q_rows)
    for a in range(0, n, t_rows):
        b = min(n, a + t_rows)
        t = train[a:b].to(device, torch.float64)
        cells = [(j, max(bounds[j], a) - a, min(bounds[j + 1], b) - a) for j in range(k)
                 if max(bounds[j], a) < min(bounds[j + 1], b)]
        for i in range(0, nq, q_rows):
            q = queries[i:i + q_rows].to(device, torch.float64)
            d = torch.cdist(q, t)
            for j, s, e in cells:
                v, ix = d[:, s:e].min(1)
                v, ix = v.cpu(), ix.cpu()
                better = v < best[i:i + q_rows, j]
                best[i:i + q_rows, j] = torch.where(better, v, best[i:i + q_rows, j])
                arg[i:i + q_rows, j] = torch.where(better, ix + (a + s), arg[i:i + q_rows, j])
    return _exact_distances(queries, train, bounds, arg, best, q_rows)


def _exact_distances(queries, train, bounds, arg, best, q_rows: int) -> torch.Tensor:
    for j in range(len(bounds) - 1):
        if bounds[j] == bounds[j + 1]:
            continue
        for i in range(0, len(queries), q_rows):
            q = queries[i:i + q_rows].double()
            best[i:i + q_rows, j] = (q - train[arg[i:i + q_rows, j]].double()).norm(dim=1)
    return best


def near_copy_share(d_generated, d_heldout, alpha: float = ALPHA) -> tuple[float, float]:
    """``(percent of generated samples with d < tau, tau)``, tau = alpha-quantile of ``d_heldout``."""
    import numpy as np

    tau = float(np.quantile(np.asarray(d_heldout, dtype=np.float64), alpha))
    share = float((np.asarray(d_generated, dtype=np.float64) < tau).mean())
    return 100.0 * share, tau


def z_u(l_generated, l_heldout) -> float:
    """Meehan et al.'s Z_U: the Mann-Whitney U of generated vs held-out distances, z-scored under
    the null. Below 0: generated samples are closer to the training set than held-out ones."""
    import numpy as np

    q = np.asarray(l_generated, dtype=np.float64)
    p = np.sort(np.asarray(l_heldout, dtype=np.float64))
    m, n = len(q), len(p)
    # U = #{L(Q_j) > L(P_i)} + ties/2: per generated sample, the held-out distances strictly below it
    # plus half of those equal to it.
    below = np.searchsorted(p, q, side="left")
    equal = np.searchsorted(p, q, side="right") - below
    u = float(below.sum() + 0.5 * equal.sum())
    return (u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12)


def data_copying_ct(l_generated, cell_generated, l_heldout, cell_heldout, k: int,
                    min_generated: int = MIN_GENERATED_PER_CELL) -> tuple[float, list[dict]]:
    """``(C_T, per-cell records)``; C_T is NaN if no cell has more than ``min_generated`` generated
    samples and at least one held-out sample. ``l_*`` are in-cell nearest-training distances."""
    import numpy as np

    l_generated, l_heldout = np.asarray(l_generated), np.asarray(l_heldout)
    cell_generated, cell_heldout = np.asarray(cell_generated), np.asarray(cell_heldout)
    n = len(l_heldout)
    num = den = 0.0
    cells = []
    for j in range(k):
        lq, lp = l_generated[cell_generated == j], l_heldout[cell_heldout == j]
        record = {"cell": j, "generated": int(len(lq)), "heldout": int(len(lp))}
        if len(lq) > min_generated and len(lp) > 0:
            z = z_u(lq, lp)
            weight = len(lp) / n
            num, den = num + weight * z, den + weight
            record["z_u"] = round(z, 4)
        cells.append(record)
    return (num / den if den > 0 else math.nan), cells


class _Reference:
    """What does not depend on the generator: training features sorted by cell, the k-means cells,
    and the held-out samples' nearest-training distances."""

    def __init__(self, train_features: torch.Tensor, heldout_features: torch.Tensor, k: int, device: str):
        import numpy as np
        from scipy.cluster.vq import kmeans2

        fit_on = train_features.double().numpy()
        if len(fit_on) > KMEANS_FIT_MAX:
            pick = np.random.default_rng(KMEANS_SEED).choice(len(fit_on), KMEANS_FIT_MAX, replace=False)
            fit_on = fit_on[np.sort(pick)]
        # `missing="warn"` keeps a centroid that loses all its points where it was; its cell is then
        # empty, which the searches handle (distance inf).
        self.centroids, _ = kmeans2(fit_on, k, iter=KMEANS_ITERATIONS, minit="++", missing="warn",
                                    rng=np.random.default_rng(KMEANS_SEED))
        self.k = k
        train_cells = torch.from_numpy(self.cells(train_features))
        order = torch.argsort(train_cells, stable=True)
        self.train = train_features[order].contiguous()
        counts = torch.bincount(train_cells, minlength=k).tolist()
        self.bounds = [0]
        for c in counts:
            self.bounds.append(self.bounds[-1] + c)
        self.trees = kd_trees(self.train, self.bounds)
        self.heldout_cells = self.cells(heldout_features)
        self.heldout_dist = nearest_per_cell(heldout_features, self.train, self.bounds, device, self.trees)

    def cells(self, x: torch.Tensor):
        """Index of each row's nearest centroid."""
        from scipy.cluster.vq import vq

        return vq(x.double().numpy(), self.centroids, check_finite=False)[0].astype("int64")


def num_cells(n: int, n_train: int) -> int:
    """k-means cells for C_T: 5, fewer when an average cell would hold under 50 samples of each side."""
    return max(1, min(MAX_CELLS, n_train, n // SAMPLES_PER_CELL))


def _reference(ctx, split: str, heldout: torch.Tensor, k: int, device: str):
    """``(_Reference, extractor)``, built once per dataset content, split, N, extractor and k."""
    from ganbench.feature_space import features, reference_side

    train, _ = ctx.reference("train")
    _, extractor = features(ctx, train[:0])
    ref = reference_side(ctx, ("memorization", split, len(heldout), extractor, k),
                         lambda: _Reference(features(ctx, train)[0], features(ctx, heldout)[0], k, device))
    return ref, extractor


def clear_memory() -> None:
    """Forget the memoised reference sides (tests use it to time or check a cold computation)."""
    from ganbench.feature_space import clear_reference_sides
    clear_reference_sides()


class Memorization(FeatureSpaceMetric):
    """Share of generated samples that are near-copies of training samples, and Meehan et al.'s C_T."""

    name = "memorization"
    paper = ("Meehan, Chaudhuri & Dasgupta 2020, A Non-Parametric Test to Detect Data-Copying in "
             "Generative Models (AISTATS); authenticity after Alaa et al. 2022, How Faithful is your "
             "Synthetic Data? (ICML)")

    def compute(self, ctx, split: str) -> list[MetricValue]:
        from ganbench.feature_space import features

        heldout, _ = ctx.reference(split)
        heldout = heldout[:MAX_SAMPLES]
        n = min(int(self.num_samples or len(heldout)), MAX_SAMPLES)
        train, _ = ctx.reference("train")
        base = {"alpha": ALPHA, "warn_above": WARN_ABOVE, "compared_with": "train",
                "reference_samples": len(heldout), "train_samples": len(train)}
        ct_base = {"ideal": 0.0, "compared_with": "train", "min_generated_per_cell": MIN_GENERATED_PER_CELL,
                   "reference_samples": len(heldout), "train_samples": len(train)}

        skipped = None
        if len(heldout) < 2:
            skipped = f"needs at least 2 real samples in split {split!r} to calibrate; it has {len(heldout)}"
        elif len(train) == 0:
            skipped = "the train split is empty: there is nothing to be a copy of"
        if skipped:
            _, extractor = features(ctx, train[:0])
            return [MetricValue("memorized_percent", math.nan, False, n, split, extractor,
                                {**base, "skipped": skipped}),
                    MetricValue("data_copying_ct", math.nan, True, n, split, extractor,
                                {**ct_base, "skipped": skipped})]

        device = str(ctx.device) if str(ctx.device).startswith("cuda") else "cpu"
        k = num_cells(min(n, len(heldout)), len(train))
        ref, extractor = _reference(ctx, split, heldout, k, device)
        generated, _ = features(ctx, ctx.sample(n))
        gen_dist = nearest_per_cell(generated, ref.train, ref.bounds, device, ref.trees)

        percent, tau = near_copy_share(gen_dist.min(1).values, ref.heldout_dist.min(1).values)
        memorized = MetricValue("memorized_percent", percent, False, n, split, extractor,
                                {**base, "threshold": tau})

        gen_cells = ref.cells(generated)
        l_gen = gen_dist[torch.arange(n), torch.from_numpy(gen_cells)]
        l_ref = ref.heldout_dist[torch.arange(len(heldout)), torch.from_numpy(ref.heldout_cells)]
        ct, cells = data_copying_ct(l_gen.numpy(), gen_cells, l_ref.numpy(), ref.heldout_cells, ref.k)
        ct_extra = {**ct_base, "cells": ref.k, "per_cell": cells}
        if math.isnan(ct):
            ct_extra["skipped"] = (f"no cell holds more than {MIN_GENERATED_PER_CELL} generated samples "
                                   f"and a held-out one ({n} generated over {ref.k} cells)")
        return [memorized, MetricValue("data_copying_ct", ct, True, n, split, extractor, ct_extra)]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(Memorization)
