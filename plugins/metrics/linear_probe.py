"""Encoder feature quality: accuracy of a linear probe (logistic regression) on E(x) (BiGAN, ALI).

Protocol [ours, in the spirit of BiGAN's feature-learning evaluation (Donahue et al. 2017, Table 1:
classifiers on E(x) of permutation-invariant MNIST) with the logistic-regression read-out their
code also trains (``train_gan.py --classifier``)]: every sample of the dataset's train split is
encoded (a Gaussian encoder gives its posterior mean); the codes are standardised with their own
mean and standard deviation (scikit-learn's ``StandardScaler``) and a multinomial logistic
regression (``LogisticRegression``, L2, C = 1, lbfgs, at most 1000 iterations) is fitted to the train
labels; ``probe_accuracy`` is its accuracy on the encoded samples of the reference split (the
held-out val split during selection, test for the reported score). Higher is better. The encoder
never sees a label; the probe reads the same codes a reconstruction does. Read it against the same
probe on raw pixels and on an untrained encoder (tests/test_bigan.py computes both), as the BiGAN
paper reads its features against pixel and random-network baselines.
"""

from __future__ import annotations

import warnings

from ganbench import hookimpl
from ganbench.api import DataInfo, Metric, MetricValue

TRAIN_SPLIT = "train"
MAX_ITER = 1000


def probe_accuracy(train_features, train_labels, eval_features, eval_labels) -> tuple[float, bool]:
    """``(accuracy, converged)`` of the protocol's probe (module docstring) on feature arrays ``[n, F]``."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    import torch
    from threadpoolctl import threadpool_limits

    scaler = StandardScaler().fit(np.asarray(train_features, dtype=np.float64))
    probe = LogisticRegression(C=1.0, max_iter=MAX_ITER)
    # BLAS at the run's thread budget (--threads): oversubscribed cores make lbfgs ~50x slower
    with threadpool_limits(limits=torch.get_num_threads()), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        probe.fit(scaler.transform(np.asarray(train_features, dtype=np.float64)), np.asarray(train_labels))
        predicted = probe.predict(scaler.transform(np.asarray(eval_features, dtype=np.float64)))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return float((predicted == np.asarray(eval_labels)).mean()), converged


class LinearProbe(Metric):
    """Linear-probe accuracy on encoder codes E(x): logistic regression fitted on the train split (labelled data)."""

    name = "linear_probe"
    paper = ("Donahue et al. 2017 (BiGAN), section 4 and Table 1 (feature learning on MNIST); "
             "Dumoulin et al. 2017 (ALI), section 4.5; the probe is ganbench's")
    needs_encoder = True

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        if data.num_classes < 2:
            return f"needs class labels to fit the probe; {dataset_name} has none"
        return None

    def compute(self, ctx, split: str) -> list[MetricValue]:
        x_train, y_train = ctx.reference(TRAIN_SPLIT)
        x_eval, y_eval = ctx.reference(split)
        if y_train is None or y_eval is None:
            raise ValueError(f"the {TRAIN_SPLIT} and {split} splits of {ctx.dataset.name!r} need labels")
        accuracy, converged = probe_accuracy(ctx.encode(x_train).numpy(), y_train.numpy(),
                                             ctx.encode(x_eval).numpy(), y_eval.numpy())
        return [MetricValue("probe_accuracy", accuracy, True, int(len(x_eval)), split,
                            extra={"train_split": TRAIN_SPLIT, "train_samples": int(len(x_train)),
                                   "probe": "standardised logistic regression, C=1", "converged": converged})]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(LinearProbe)
