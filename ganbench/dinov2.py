"""DINOv2 ViT backbones (Oquab et al. 2023) built offline from a checkpoint, inside torch-fidelity's extractor.

torch-fidelity 0.4.0 ships ``FeatureExtractorDinoV2`` (registered as ``dinov2-vit-{s,b,l,g}-14``), but it
builds the network only through ``torch.hub.load("facebookresearch/dinov2", ...)``. That call contacts
github.com first: torch.hub resolves the repository's default branch with ``urlopen`` even when the
code is cached. It then downloads the weights. Passing ``feature_extractor_weights_path`` raises
``NotImplementedError``. So ganbench keeps torch-fidelity's extractor and replaces only how it is built.
The extractor's ``forward`` is unchanged: uint8 in, TF1-compatible bilinear resize to 224, ImageNet
mean/std, the backbone's output (the normalised CLS token, 1024-d for ViT-L/14).

:class:`DinoV2ViT` reproduces the inference path of facebookresearch/dinov2's ``DinoVisionTransformer``
(``dinov2/models/vision_transformer.py`` with ``layers/{block,attention,mlp,layer_scale,patch_embed}.py``,
as ``hub/backbones.py`` configures it: LayerNorm eps 1e-6, qkv/proj/ffn biases, GELU MLP, LayerScale,
no register tokens, bicubic position-embedding interpolation with the 0.1 offset and no antialiasing).
It uses the same parameter names, so the official ``dinov2_vitl14_pretrain.pth`` loads with
``strict=True``. The architecture is read from the checkpoint's shapes. The number of heads is
``embed_dim // 64``, as in every official size.
"""

from __future__ import annotations

import math
import os
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2
from torch_fidelity.helpers import text_to_dtype, vassert

EXTRACTOR_NAME = "ganbench-dinov2"
HEAD_DIM = 64
INTERPOLATE_OFFSET = 0.1
# (embed_dim, depth) -> the official size's name, for the extractor label.
OFFICIAL_SIZES = {(384, 12): "s", (768, 12): "b", (1024, 24): "l", (1536, 40): "g"}


class _Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = (t.transpose(1, 2) for t in torch.unbind(qkv, 2))
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class _LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, hidden: int, layerscale: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, num_heads)
        self.ls1 = _LayerScale(dim) if layerscale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, hidden)
        self.ls2 = _LayerScale(dim) if layerscale else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class _PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoV2ViT(nn.Module):
    """DINOv2's ViT for inference: ``forward(x)`` is the layer-normed CLS token, as the hub model returns."""

    def __init__(self, embed_dim: int = 1024, depth: int = 24, patch_size: int = 14, pos_grid: int = 37,
                 mlp_hidden: int | None = None, layerscale: bool = True):
        super().__init__()
        if embed_dim % HEAD_DIM:
            raise ValueError(f"embed_dim {embed_dim} is not a multiple of the head width {HEAD_DIM}")
        self.patch_size = patch_size
        self.patch_embed = _PatchEmbed(patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, pos_grid * pos_grid + 1, embed_dim))
        self.blocks = nn.ModuleList(_Block(embed_dim, embed_dim // HEAD_DIM, mlp_hidden or 4 * embed_dim, layerscale)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # unused at inference; in the checkpoint

    def interpolate_pos_encoding(self, x: torch.Tensor, w: int, h: int) -> torch.Tensor:
        # As dinov2's DinoVisionTransformer.interpolate_pos_encoding (w, h are dims 2 and 3).
        previous_dtype = x.dtype
        npatch = x.shape[1] - 1
        n = self.pos_embed.shape[1] - 1
        if npatch == n and w == h:
            return self.pos_embed
        pos_embed = self.pos_embed.float()
        class_pos_embed = pos_embed[:, 0]
        patch_pos_embed = pos_embed[:, 1:]
        dim = x.shape[-1]
        w0, h0 = w // self.patch_size, h // self.patch_size
        m = int(math.sqrt(n))
        sx, sy = float(w0 + INTERPOLATE_OFFSET) / m, float(h0 + INTERPOLATE_OFFSET) / m
        patch_pos_embed = F.interpolate(patch_pos_embed.reshape(1, m, m, dim).permute(0, 3, 1, 2),
                                        scale_factor=(sx, sy), mode="bicubic", antialias=False)
        assert (w0, h0) == patch_pos_embed.shape[-2:]
        patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(previous_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, w, h = x.shape
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.interpolate_pos_encoding(x, w, h)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0]


# ---------------------------------------------------------------------------------------------------
def architecture(state: dict) -> dict:
    """The constructor arguments of :class:`DinoV2ViT` that ``state`` (a DINOv2 state dict) was saved from."""
    missing = [k for k in ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.mlp.fc1.weight")
               if k not in state]
    if missing:
        raise ValueError(f"not a DINOv2 ViT state dict (no {', '.join(missing)})")
    if "register_tokens" in state or any(".mlp.w12." in k for k in state):
        raise ValueError("unsupported DINOv2 variant: only the ViT-S/B/L/14 layout without registers or "
                         "SwiGLU is supported")
    n = state["pos_embed"].shape[1] - 1
    grid = math.isqrt(n)
    if grid * grid != n:
        raise ValueError(f"pos_embed has {n} patch positions, not a square grid")
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.norm1\.weight$", k))}
    return {"embed_dim": int(state["cls_token"].shape[-1]), "depth": len(blocks),
            "patch_size": int(state["patch_embed.proj.weight"].shape[-1]), "pos_grid": grid,
            "mlp_hidden": int(state["blocks.0.mlp.fc1.weight"].shape[0]),
            "layerscale": "blocks.0.ls1.gamma" in state}


def architecture_name(arch: dict) -> str:
    """``vit-l-14`` for an official size, else ``custom-d<dim>x<depth>-p<patch>``."""
    size = OFFICIAL_SIZES.get((arch["embed_dim"], arch["depth"]))
    if size:
        return f"vit-{size}-{arch['patch_size']}"
    return f"custom-d{arch['embed_dim']}x{arch['depth']}-p{arch['patch_size']}"


def _torch_load(path: str, mmap: bool = False) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except RuntimeError:
        if not mmap:
            raise
        state = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return state


def read_architecture(path: str, _memo: dict = {}) -> dict:  # noqa: B006 - deliberate memo
    """:func:`architecture` of a weights file, memoised by (path, size, mtime); memory-maps the file."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _memo:
        _memo[key] = architecture(_torch_load(path, mmap=True))
    return _memo[key]


def load_dinov2(path: str) -> DinoV2ViT:
    """A :class:`DinoV2ViT` with the weights in ``path`` (strict: every key must match)."""
    state = _torch_load(path)
    model = DinoV2ViT(**architecture(state))
    model.load_state_dict(state, strict=True)
    return model


class OfflineDinoV2Extractor(FeatureExtractorDinoV2):
    """torch-fidelity's DINOv2 extractor, built from ``feature_extractor_weights_path`` and never from the hub."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None,
                 feature_extractor_internal_dtype=None, **kwargs):
        FeatureExtractorBase.__init__(self, name, features_list)  # skip the parent's torch.hub.load
        vassert(feature_extractor_internal_dtype in ("float32", "float64", None),
                "Only 32-bit floats are supported for internal dtype of this feature extractor")
        if not feature_extractor_weights_path:
            raise RuntimeError("DINOv2 needs feature_extractor_weights_path; ganbench never downloads weights")
        self.feature_extractor_internal_dtype = text_to_dtype(feature_extractor_internal_dtype, "float32")
        self.model = load_dinov2(feature_extractor_weights_path)
        self.to(self.feature_extractor_internal_dtype)
        self.requires_grad_(False)
        self.eval()


def register() -> str:
    """Register :class:`OfflineDinoV2Extractor` with torch-fidelity (once); return its name."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if EXTRACTOR_NAME not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(EXTRACTOR_NAME, OfflineDinoV2Extractor)
    return EXTRACTOR_NAME
