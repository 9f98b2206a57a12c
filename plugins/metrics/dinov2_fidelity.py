"""FD_DINOv2, with KID and precision/recall, in the feature space of DINOv2 ViT-L/14 (self-supervised).

Protocol: Stein et al. 2023, "Exposing flaws of generative model evaluation metrics and their unfair
treatment of diffusion models" (layer6ai-labs/dgm-eval). They found the Fréchet distance on DINOv2
ViT-L/14 features agrees with human judgement of realism better than Inception FID. Their model is
``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')``: the layer-normed CLS token, 1024-d. The
Fréchet distance is Heusel et al.'s formula on those features, reported as ``fd_dinov2``. KID (cubic
kernel, subsets of min(1000, N)) and k=3 precision/recall (Kynkäänniemi et al. 2019) come from the
same torch-fidelity pass as ``kid_dinov2``, ``precision_dinov2`` and ``recall_dinov2``. There is no IS:
DINOv2 has no class logits.

Through torch-fidelity 0.4.0's DINOv2 extractor. Its forward is used unchanged (uint8 RGB with grey
channels replicated, TF1-compatible bilinear resize to 224, ImageNet mean/std). Only its construction
is replaced (see :mod:`ganbench.dinov2`), because 0.4.0 always goes to torch.hub and the network. One
difference from dgm-eval: dgm-eval resizes PIL images with bicubic ``torchvision.transforms.Resize``,
torch-fidelity with TF1 bilinear. So values are close to dgm-eval's but not bit-equal, and the two must
not be mixed in one table. N generated = number of real samples used = min(split size, 10000) by
default. Features are 1024-d, so below N = 1025 the covariances are singular and the value carries
``rank_deficient``.

Offline by design. The weights come from ``$GANBENCH_DINOV2_WEIGHTS`` (a path), or from the file that
dinov2's torch.hub entry point downloads, ``$TORCH_HOME/hub/checkpoints/dinov2_vitl14_pretrain.pth``.
Without either, :meth:`availability` says how to get them, and nothing downloads. The download URL
carries no hash and ganbench knows no official sha256, so the extractor label always carries the hash
of the file used: ``dinov2-vit-l-14-<sha8>``. Any other architecture gets its own label, for example
``dinov2-vit-b-14-<sha8>``, so its numbers land in a separate column. ViT-L/14 has about 300M
parameters and runs on 257 tokens per 224 px image: use a GPU.
"""

from __future__ import annotations

from ganbench import hookimpl
from ganbench.feature_weights import PretrainedFidelity, find_weights, hub_checkpoints_dir

ENV_WEIGHTS = "GANBENCH_DINOV2_WEIGHTS"
WEIGHTS_FILE = "dinov2_vitl14_pretrain.pth"
WEIGHTS_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"


def dinov2_weights() -> tuple[str | None, str]:
    """``(path, "")`` if DINOv2 ViT-L/14 weights are on disk, else ``(None, reason)``. Never downloads."""
    return find_weights(ENV_WEIGHTS, [hub_checkpoints_dir() / WEIGHTS_FILE], "DINOv2 ViT-L/14", WEIGHTS_FILE,
                        WEIGHTS_URL)


class Dinov2Fidelity(PretrainedFidelity):
    """FD_DINOv2, KID and precision/recall on DINOv2 ViT-L/14 features, only when its weights are on disk."""

    name = "dinov2_fidelity"
    paper = ("Stein et al. 2023 (FD_DINOv2, dgm-eval); Oquab et al. 2023 (DINOv2); Heusel et al. 2017 (FD); "
             "Bińkowski et al. 2018 (KID); Kynkäänniemi et al. 2019 (precision/recall)")
    ranks = {"fd_dinov2": 5}

    @staticmethod
    def weights() -> tuple[str | None, str]:
        return dinov2_weights()  # looked up at call time, so tests can point it elsewhere

    def fidelity_options(self, path: str, sha256: str) -> dict:
        from ganbench import dinov2
        arch = dinov2.read_architecture(path)
        label = f"dinov2-{dinov2.architecture_name(arch)}-{sha256[:8]}"
        return {"extractor": dinov2.register(), "key": "dinov2", "fid_name": "fd", "extractor_label": label,
                "extractor_id": label, "feature_dim": arch["embed_dim"], "isc": False,
                "extra": {"weights_sha256": sha256[:16], "resize": "tf1-bilinear-224"}}


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(Dinov2Fidelity)
