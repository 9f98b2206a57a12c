"""Unpaired translation scores, per direction: LeNet-FID in the target domain, label preservation and
cycle reconstruction error (the CycleGAN evaluation of Zhu et al. 2017, section 5.1, on digits).

Protocol, on a ``two domains`` dataset (joint samples: one image of domain A left, one of B right)
and the generator G(a | b) = (G_BA(b) | G_AB(a)), over every joint sample of the split:

* ``fid_lenet_ab``: Fréchet distance (Heusel et al. 2017) between the LeNet features of G_AB(a) and of
  the split's real B images, with the LeNet ganbench trains on domain B's own dataset
  (``ganbench.evaluators``); ``fid_lenet_ba`` the same for G_BA(b) against real A images with A's
  LeNet. ``fid_lenet_mean``, their mean, is the primary value (checkpoint selection, table order).
* ``label_kept_ab``: the share of G_AB(a) that B's classifier reads as a's digit; ``label_kept_ba``
  likewise (the FCN-score idea of Zhu et al. section 5.1.1, with a digit classifier: a translation
  that keeps the content keeps the class).
* ``cycle_l1_a``, ``cycle_l1_b``: mean |G_BA(G_AB(a)) - a| and |G_AB(G_BA(b)) - b|, in [-1, 1] units.

Each value names its extractor; FIDs of the two directions live in different feature spaces.
"""

from __future__ import annotations

import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Metric, MetricValue


def frechet_distance(features_1: torch.Tensor, features_2: torch.Tensor) -> float:
    """FID between two feature sets, through torch-fidelity's own statistics and distance."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    stats = [fid_features_to_statistics(f.double()) for f in (features_1, features_2)]
    return float(fid_statistics_to_metric(stats[0], stats[1], False)["frechet_inception_distance"])


class CycleTranslation(Metric):
    """Per direction: LeNet-FID in the target domain, label preservation, cycle error (two-domain data)."""

    name = "cycle_translation"
    paper = ("Zhu, J.-Y., Park, T., Isola, P. & Efros, A. A. (2017). Unpaired Image-to-Image Translation "
             "using Cycle-Consistent Adversarial Networks. ICCV 2017; FID: Heusel et al. 2017")
    needs_pairs = True
    ranks = {"fid_lenet_mean": 1, "fid_lenet_ab": 2, "fid_lenet_ba": 3}

    @classmethod
    def supports(cls, data: DataInfo, dataset_name: str) -> str | None:
        # what a joint two-domain sample looks like; the task (unpaired_translation) names this metric
        if not data.is_image or len(data.shape) != 3 or data.shape[2] != 2 * data.shape[1]:
            return f"scores joint two-domain images (H x 2H), {dataset_name} holds {tuple(data.shape)}"
        return None

    def compute(self, ctx, split: str) -> list[MetricValue]:
        from ganbench.evaluators import find_dataset, get_evaluator

        if len(ctx.dataset.domains) != 2:
            raise ValueError(f"{ctx.dataset.name} declares domains {ctx.dataset.domains!r}, not two")
        outputs, joint = ctx.paired(split)
        cycled = ctx.translate(outputs)
        labels = ctx.dataset.domain_labels(split)
        n = int(joint.shape[0])
        real_a, real_b = joint.tensor_split(2, dim=-1)
        fake_a, fake_b = outputs.tensor_split(2, dim=-1)     # G_BA(b), G_AB(a)
        back_a, back_b = cycled.tensor_split(2, dim=-1)      # G_BA(G_AB(a)), G_AB(G_BA(b))
        judge_a, judge_b = (get_evaluator(find_dataset(name)) for name in ctx.dataset.domains)
        # the real side: each domain's own split, once per image (B's images recur in the coupling)
        domain_a, domain_b = (find_dataset(name).load(split)[0] for name in ctx.dataset.domains)
        fid_ab = frechet_distance(judge_b.features(fake_b), judge_b.features(domain_b))
        fid_ba = frechet_distance(judge_a.features(fake_a), judge_a.features(domain_a))
        kept_ab = (judge_b.predict(fake_b) == labels[:, 0]).double().mean()
        kept_ba = (judge_a.predict(fake_a) == labels[:, 1]).double().mean()

        def value(name, v, higher, extractor="", **extra):
            return MetricValue(name, float(v), higher_is_better=higher, num_samples=n, reference_split=split,
                               extractor=extractor, extra=extra)

        return [
            value("fid_lenet_mean", (fid_ab + fid_ba) / 2, False, f"{judge_b.name}+{judge_a.name}"),
            value("fid_lenet_ab", fid_ab, False, judge_b.name),
            value("fid_lenet_ba", fid_ba, False, judge_a.name),
            value("label_kept_ab", kept_ab, True, judge_b.name, evaluator_test_accuracy=round(judge_b.accuracy, 4)),
            value("label_kept_ba", kept_ba, True, judge_a.name, evaluator_test_accuracy=round(judge_a.accuracy, 4)),
            value("cycle_l1_a", (back_a - real_a).abs().mean(), False),
            value("cycle_l1_b", (back_b - real_b).abs().mean(), False),
        ]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(CycleTranslation)
