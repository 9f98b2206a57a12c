"""FID/KID/IS/precision-recall on a LeNet that ganbench trains on the dataset itself ("FID-LeNet").

Protocol (metrics-protocols.md §5, convention b): a Fréchet distance on the penultimate features of
an MNIST classifier, in the spirit of the "Fréchet LeNet Distance" (dfaroughy/FID-MNIST); KID
(Bińkowski et al. 2018, cubic polynomial kernel, subsets of min(1000, N)), an MNIST-classifier
Inception Score (Salimans et al. 2016) from its logits, and k=3 precision/recall (Kynkäänniemi et al.
2019) in the same feature space. N generated = the number of real samples in the reference split
(1000 for mnist5k's test split); every value records N, the split and the extractor's name
``lenet-<dataset>-<weights hash>``.

Which evaluator: the one trained (deterministically, cached) on the evaluated dataset's own train
split. That covers mnist5k, and also the downloaded mnist and fashion_mnist once they are on disk: a
Fashion-MNIST generator is then judged by a Fashion-MNIST classifier, never by a digit classifier.
Values are therefore comparable only between runs on the same dataset (the extractor name says so).
Never compare FID-LeNet with Inception FID.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import DataInfo, Metric, MetricValue


class LenetFidelity(Metric):
    """FID, KID, IS and precision/recall on ganbench's own LeNet features (1x28x28 labelled data)."""

    name = "lenet_fidelity"
    paper = ("Heusel et al. 2017 (FID); Bińkowski et al. 2018 (KID); Salimans et al. 2016 (IS); "
             "Kynkäänniemi et al. 2019 (precision/recall); LeNet features: LeCun et al. 1998")
    ranks = {"fid_lenet": 1}

    def __init__(self, num_samples: int | None = None):
        self.num_samples = num_samples  # None: as many as the reference split has

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        if not data.is_image or tuple(data.shape) != (1, 28, 28):
            return f"needs 1x28x28 grey images, {dataset_name} has shape {tuple(data.shape)}"
        if data.num_classes != 10:
            return f"needs 10 class labels to train its evaluator, {dataset_name} has {data.num_classes}"
        return None

    def compute(self, ctx, split: str) -> list[MetricValue]:
        from ganbench.evaluation import dataset_fingerprint
        from ganbench.evaluators import get_evaluator
        from ganbench.fidelity import fidelity_metrics

        evaluator = get_evaluator(ctx.dataset, fingerprint=dataset_fingerprint(ctx))
        name = evaluator.register_extractor()
        return fidelity_metrics(
            ctx, split, extractor=name, key="lenet", num_samples=self.num_samples,
            weights_path=str(evaluator.path), feature_dim=evaluator.meta["config"]["hidden"],
            extra={"evaluator_test_accuracy": round(evaluator.accuracy, 4)})


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(LenetFidelity)
