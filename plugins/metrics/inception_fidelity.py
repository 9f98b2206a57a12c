"""FID/KID/IS/precision-recall on the standard InceptionV3 (torch-fidelity's ``inception-v3-compat``).

Protocol: Heusel et al. 2017 (FID), with the TF1-compatible Inception port of torch-fidelity
(metrics-protocols.md §1.1, relative error 1e-6 vs TTUR); images become uint8 RGB (grey channels
replicated, as in Lucic et al. 2018's compare_gan), resized to 299 by the network itself. N generated
= number of real samples used = min(split size, 10000) by default ("FID-10k" vs the 10k test split).
KID subsets of min(1000, N); IS from the unbiased logits; precision/recall with k=3 here in Inception
space (not VGG16 as in Kynkäänniemi et al., whose weights would need another download).

Offline by design: the weights come from ``$GANBENCH_INCEPTION_WEIGHTS`` (a path) or from
torch-fidelity's own cache file ``$TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth``.
Without either, :meth:`supports` returns the reason and nothing tries to download. Weights whose
sha256 does not start with 6726825d are recorded as ``inception-v3-compat-custom-<hash8>``, so
numbers from other weights are never mistaken for standard FID. On a CPU Inception runs at about
7-11 images/s: FID-10k (20k images) takes about 40 minutes; use a GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

from ganbench import hookimpl
from ganbench.feature_weights import PretrainedFidelity

ENV_WEIGHTS = "GANBENCH_INCEPTION_WEIGHTS"
WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
OFFICIAL_SHA256_PREFIX = "6726825d"
EXTRACTOR = "inception-v3-compat"


def inception_weights() -> tuple[str | None, str]:
    """``(path, "")`` if weights are on disk, else ``(None, reason)``. Never downloads."""
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        if Path(env).is_file():
            return env, ""
        return None, f"${ENV_WEIGHTS} points at {env}, which is not a file"
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    hub_file = Path(torch_home) / "hub" / "checkpoints" / WEIGHTS_FILE
    if hub_file.is_file():
        return str(hub_file), ""
    return None, (f"Inception weights not found: set ${ENV_WEIGHTS} to a copy of {WEIGHTS_FILE} "
                  f"or place it at {hub_file} (ganbench never downloads them)")


class InceptionFidelity(PretrainedFidelity):
    """Standard Inception FID/KID/IS/precision-recall, only when the Inception weights are on disk."""

    name = "inception_fidelity"
    paper = ("Heusel et al. 2017 (FID); Bińkowski et al. 2018 (KID); Salimans et al. 2016 (IS); "
             "Kynkäänniemi et al. 2019 (precision/recall); Szegedy et al. 2016 (InceptionV3)")
    ranks = {"fid_inception": 0}   # the standard FID leads wherever its weights are present

    @staticmethod
    def weights() -> tuple[str | None, str]:
        return inception_weights()  # looked up at call time, so tests can point it elsewhere

    def fidelity_options(self, path: str, sha256: str) -> dict:
        label = EXTRACTOR if sha256.startswith(OFFICIAL_SHA256_PREFIX) else f"{EXTRACTOR}-custom-{sha256[:8]}"
        return {"extractor": EXTRACTOR, "key": "inception", "extractor_label": label,
                "extractor_id": f"{EXTRACTOR}-{sha256[:8]}", "feature_dim": 2048,
                "extra": {"weights_sha256": sha256[:16]}}


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(InceptionFidelity)
