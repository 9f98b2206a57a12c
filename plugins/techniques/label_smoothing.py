"""Technique plugin: one-sided label smoothing."""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.api import Technique


class LabelSmoothing(Technique):
    """One-sided label smoothing: real targets of 0.9 in the discriminator loss (Salimans et al. 2016).

    Salimans, Goodfellow, Zaremba, Cheung, Radford and Chen (2016), "Improved Techniques for Training
    GANs", section 3.4. Only the real target is smoothed: smoothing the fake target as well would
    reward the generator for staying where the data has no mass.

    There are no hooks: the technique contributes ``real_label`` to the merged hyperparameters and a
    loss that declares ``accepts_label_smoothing`` reads it. Other losses are refused in
    :meth:`supports`, because they would silently ignore the setting.
    """

    name = "label_smoothing"
    discrete_samples = True  # never touches what D sees nor replaces the generator loss (token data)
    paper = ("Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen (2016). "
             "Improved Techniques for Training GANs. NeurIPS.")
    defaults = {"real_label": 0.9}
    hparam_docs = {
        "real_label": "target of real samples in the discriminator loss (1 = no smoothing)",
    }
    hparam_limits = {
        "real_label": {"low": 0, "high": 1, "low_open": True},
    }

    @classmethod
    def supports(cls, architecture, loss, data):
        if not getattr(loss, "accepts_label_smoothing", False):
            return f"loss {getattr(loss, 'name', loss.__name__)!r} has no real-label target to smooth"
        return None


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(LabelSmoothing)
