"""FD_CLIP, with KID and precision/recall, in the image-embedding space of OpenAI's CLIP ViT-B/32.

Protocol: Kynkäänniemi et al. 2023, "The Role of ImageNet Classes in Fréchet Inception Distance".
Inception features are so close to ImageNet classification that FID can be improved by matching
Top-N class histograms, without improving images. They propose the Fréchet distance in the feature
space of CLIP ViT-B/32, which was not trained on ImageNet classes, as a check, reported here as
``fd_clip``. The features are the 512-d image embedding (the visual tower's output after its
projection), as in clean-fid's CLIP-FID. KID and k=3 precision/recall come from the same pass
(``kid_clip``, ``precision_clip``, ``recall_clip``). There is no IS: the embedding is not logits.

Through torch-fidelity 0.4.0's own ``clip-vit-b-32`` extractor (``FeatureExtractorCLIP``), unchanged,
with ``feature_extractor_weights_path`` always set (``None`` would download). Images become uint8 RGB
(grey replicated). torch-fidelity resizes the whole image with TF1 bilinear to 224 and normalises
with CLIP's mean/std. OpenAI's own preprocessing resizes with PIL bicubic and centre-crops, which for
square images is only an interpolation difference. N = min(split size, 10000) by default; below
N = 513 the covariances are singular (``rank_deficient``).

Offline by design. The weights are OpenAI's TorchScript archive ``ViT-B-32.pt``, found at
``$GANBENCH_CLIP_WEIGHTS``, or where torch-fidelity downloads it
(``$TORCH_HOME/hub/checkpoints/clip-vit-b-32-<sha256>.pt``), or where OpenAI's ``clip`` package does
(``~/.cache/clip/ViT-B-32.pt``). All three are the same file. The official file's sha256 is in its
URL. A file with that hash is recorded as ``clip-vit-b-32``, and any other as
``clip-vit-b-32-custom-<hash8>``.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

from ganbench import hookimpl
from ganbench.feature_weights import PretrainedFidelity, find_weights, hub_checkpoints_dir

ENV_WEIGHTS = "GANBENCH_CLIP_WEIGHTS"
EXTRACTOR = "clip-vit-b-32"
# torch_fidelity.feature_extractor_clip.MODEL_METADATA["clip-vit-b-32"]["hash"]: the file's sha256
# (not imported here, so that listing metrics does not import torch).
OFFICIAL_SHA256 = "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"
WEIGHTS_FILE = "ViT-B-32.pt"
WEIGHTS_URL = f"https://openaipublic.azureedge.net/clip/models/{OFFICIAL_SHA256}/{WEIGHTS_FILE}"
HUB_FILE = f"{EXTRACTOR}-{OFFICIAL_SHA256}.pt"  # torch-fidelity's file_name for load_state_dict_from_url
OFFICIAL_EMBED_DIM = 512


def clip_weights() -> tuple[str | None, str]:
    """``(path, "")`` if CLIP ViT-B/32 weights are on disk, else ``(None, reason)``. Never downloads."""
    candidates = [hub_checkpoints_dir() / HUB_FILE, Path(os.path.expanduser("~/.cache/clip")) / WEIGHTS_FILE]
    return find_weights(ENV_WEIGHTS, candidates, "CLIP ViT-B/32", WEIGHTS_FILE, WEIGHTS_URL)


def embed_dim(path: str, _memo: dict = {}) -> int:  # noqa: B006 - deliberate memo
    """Width of the image embedding stored in a CLIP TorchScript archive (memoised by path, size, mtime)."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _memo:
        import torch
        with _quiet_jit():
            _memo[key] = int(torch.jit.load(path, map_location="cpu").state_dict()["text_projection"].shape[1])
    return _memo[key]


@contextlib.contextmanager
def _quiet_jit():
    """Silence recent torch's "`torch.jit.load` is deprecated" FutureWarning, which torch-fidelity's CLIP
    loader would otherwise print at every evaluation (OpenAI's weights are a TorchScript archive)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=FutureWarning)
        yield


class ClipFidelity(PretrainedFidelity):
    """FD_CLIP, KID and precision/recall on CLIP ViT-B/32 image embeddings, only when its weights are on disk."""

    name = "clip_fidelity"
    paper = ("Kynkäänniemi et al. 2023 (FD in CLIP space); Radford et al. 2021 (CLIP); Heusel et al. 2017 (FD); "
             "Bińkowski et al. 2018 (KID); Kynkäänniemi et al. 2019 (precision/recall)")
    ranks = {"fd_clip": 5}

    @staticmethod
    def weights() -> tuple[str | None, str]:
        return clip_weights()  # looked up at call time, so tests can point it elsewhere

    def loading(self):
        return _quiet_jit()

    def fidelity_options(self, path: str, sha256: str) -> dict:
        official = sha256 == OFFICIAL_SHA256
        label = EXTRACTOR if official else f"{EXTRACTOR}-custom-{sha256[:8]}"
        return {"extractor": EXTRACTOR, "key": "clip", "fid_name": "fd", "extractor_label": label,
                "extractor_id": f"{EXTRACTOR}-{sha256[:8]}",
                "feature_dim": OFFICIAL_EMBED_DIM if official else embed_dim(path), "isc": False,
                "extra": {"weights_sha256": sha256[:16], "resize": "tf1-bilinear"}}


@hookimpl
def ganbench_register_metrics(registry):
    registry.add(ClipFidelity)
