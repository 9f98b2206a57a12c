"""DINOv2 and CLIP feature spaces (``dinov2_fidelity``, ``clip_fidelity``): offline plumbing only.

The real weights (1.2 GB and 350 MB) are never here, so each test builds a tiny randomly initialised
model saved in exactly the format its extractor loads: a DINOv2 state dict with the official key
layout, and a TorchScript archive like OpenAI's ``ViT-B-32.pt`` built from torch-fidelity's own CLIP
``VisionTransformer``. Every test runs with the network cut off and counts the attempts to reach it.
"""

from __future__ import annotations

import math
import socket
import urllib.request
import warnings

import pytest
import torch
from click.testing import CliRunner

from ganbench import doctor
from ganbench.evaluation import SamplingContext, evaluate
from ganbench_plugins.datasets.mnist5k import Mnist5k
from ganbench_plugins.metrics import clip_fidelity, dinov2_fidelity
from ganbench_plugins.metrics.clip_fidelity import ClipFidelity
from ganbench_plugins.metrics.dinov2_fidelity import Dinov2Fidelity

N = 10  # images per side: enough for FD and k=3 precision/recall, too few for KID (skipped, with the reason)


class TinyDigits(Mnist5k):
    """mnist5k cut to 10 images per split."""

    name = "tiny_digits_fs_test"

    def load(self, split):
        x, y = super().load(split)
        return x[:N], y[:N]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No weights anywhere, empty caches, and every way out to the network refused and counted."""
    for var in (dinov2_fidelity.ENV_WEIGHTS, clip_fidelity.ENV_WEIGHTS, "GANBENCH_INCEPTION_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # OpenAI's clip cache is ~/.cache/clip
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    import torch_fidelity.feature_extractor_clip as fe_clip
    import torch_fidelity.feature_extractor_inceptionv3 as fe_inception
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "load", refuse)  # torch-fidelity's own DINOv2 path
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(fe_clip, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(fe_inception, "load_state_dict_from_url", refuse)
    return attempts


def tiny_ctx(tmp_path) -> SamplingContext:
    """10 mnist5k validation digits play the generator; the reference is 10 test digits."""
    pool = TinyDigits().load("val")[0]

    def sample_fn(n, gen):
        return pool[torch.randperm(len(pool), generator=gen)[:n]], None

    return SamplingContext(sample_fn, TinyDigits(), TinyDigits.info, seed=0, cache_dir=str(tmp_path / "cache"))


# -- weights the tests build ----------------------------------------------------------------------------

def build_dinov2_weights(path) -> str:
    """A 2-block, 128-d DINOv2 ViT/14 in the official state-dict format. Its parameters are drawn again,
    because the constructor's zeros (tokens, position embedding) would make every image alike."""
    from ganbench.dinov2 import DinoV2ViT

    model = DinoV2ViT(embed_dim=128, depth=2, patch_size=14, pos_grid=4)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith(".weight"):
                continue  # LayerNorm scales stay 1
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    torch.save(model.state_dict(), path)
    return str(path)


def build_clip_weights(path) -> str:
    """A TorchScript archive shaped like OpenAI's ViT-B-32.pt: ``visual.*`` from torch-fidelity's own
    ``VisionTransformer`` (here 32 px, patch 8, width 64 = one head, 2 layers) and ``text_projection``,
    from which torch-fidelity reads the embedding width (32 here, 512 in ViT-B/32)."""
    from torch_fidelity.feature_extractor_clip import VisionTransformer

    class TinyClip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = VisionTransformer(input_resolution=32, patch_size=8, width=64, layers=2, heads=1,
                                            output_dim=32)
            self.text_projection = torch.nn.Parameter(torch.randn(16, 32))

        def forward(self, x):
            return self.visual(x)

    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit deprecation and tracer warnings: irrelevant to a fixture
        torch.manual_seed(0)
        model = TinyClip().eval()
        torch.jit.trace(model, torch.randn(1, 3, 32, 32)).save(str(path))
    return str(path)


# -- DINOv2 ---------------------------------------------------------------------------------------------

def official_vitl14_shapes() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of dinov2_vitl14_pretrain.pth, from facebookresearch/dinov2's
    DinoVisionTransformer as hub/backbones.py builds it (img_size 518, patch 14, 24 blocks of 1024)."""
    d, h = 1024, 4096
    shapes = {"cls_token": (1, 1, d), "pos_embed": (1, 37 * 37 + 1, d), "mask_token": (1, d),
              "patch_embed.proj.weight": (d, 3, 14, 14), "patch_embed.proj.bias": (d,),
              "norm.weight": (d,), "norm.bias": (d,)}
    for i in range(24):
        b = f"blocks.{i}."
        shapes.update({b + "norm1.weight": (d,), b + "norm1.bias": (d,), b + "attn.qkv.weight": (3 * d, d),
                       b + "attn.qkv.bias": (3 * d,), b + "attn.proj.weight": (d, d), b + "attn.proj.bias": (d,),
                       b + "ls1.gamma": (d,), b + "norm2.weight": (d,), b + "norm2.bias": (d,),
                       b + "mlp.fc1.weight": (h, d), b + "mlp.fc1.bias": (h,), b + "mlp.fc2.weight": (d, h),
                       b + "mlp.fc2.bias": (d,), b + "ls2.gamma": (d,)})
    return shapes


def test_dinov2_model_has_the_official_vitl14_state_dict_layout():
    from ganbench.dinov2 import DinoV2ViT, architecture, architecture_name

    expected = official_vitl14_shapes()
    with torch.device("meta"):  # shapes only: no 1.2 GB allocation
        model = DinoV2ViT()
        state = {k: torch.empty(s) for k, s in expected.items()}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == expected
    arch = architecture(state)
    assert arch == {"embed_dim": 1024, "depth": 24, "patch_size": 14, "pos_grid": 37, "mlp_hidden": 4096,
                    "layerscale": True}
    assert architecture_name(arch) == "vit-l-14"
    assert len(model.blocks[0].attn.qkv.weight) // 3 // model.blocks[0].attn.num_heads == 64  # 16 heads
    with pytest.raises(ValueError, match="registers"):
        architecture({**state, "register_tokens": torch.empty(1, 4, 1024, device="meta")})


def test_dinov2_plumbing_with_test_weights(offline, monkeypatch, tmp_path):
    path = build_dinov2_weights(tmp_path / "dinov2-tiny.pth")
    monkeypatch.setenv(dinov2_fidelity.ENV_WEIGHTS, path)
    assert Dinov2Fidelity.availability() is None
    assert Dinov2Fidelity.supports(Mnist5k.info, "mnist5k") is None

    values, errors = evaluate([Dinov2Fidelity()], tiny_ctx(tmp_path), "test")
    assert errors == {}
    v = {x.name: x for x in values}
    assert set(v) == {"fd_dinov2", "kid_dinov2", "precision_dinov2", "recall_dinov2"}  # no IS: no logits
    fd = v["fd_dinov2"]
    assert fd.extractor.startswith("dinov2-custom-d128x2-p14-") and fd.extra["weights_sha256"]
    assert fd.extractor.endswith(fd.extra["weights_sha256"][:8])
    assert {x.extractor for x in values} == {fd.extractor}
    assert fd.num_samples == N and fd.reference_split == "test" and fd.extra["reference_samples"] == N
    assert fd.extra["rank_deficient"] is True and fd.higher_is_better is False
    # Distinct digits through non-degenerate random features: clearly above round-off.
    assert math.isfinite(fd.value) and fd.value > 1e-3
    assert 0 <= v["precision_dinov2"].value <= 1 and 0 <= v["recall_dinov2"].value <= 1
    assert math.isnan(v["kid_dinov2"].value) and "KID needs" in v["kid_dinov2"].extra["skipped"]
    assert dict(doctor.feature_extractors())["extractor_dinov2"] == f"available at {path}"
    assert offline == []


def test_dinov2_extractor_is_torch_fidelitys_forward_on_our_backbone(offline, tmp_path):
    """Through torch-fidelity's pipeline the features are torch-fidelity's DINOv2 preprocessing (TF1
    bilinear resize to 224, ImageNet mean/std) followed by the backbone."""
    import torchvision
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    from ganbench import dinov2
    from ganbench.fidelity import extract_features, to_uint8_rgb

    path = build_dinov2_weights(tmp_path / "dinov2-tiny.pth")
    x = to_uint8_rgb(TinyDigits().load("test")[0][:4])
    feats = extract_features(dinov2.register(), x, "dinov2", weights_path=path)
    y = interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=(224, 224), align_corners=False)
    y = torchvision.transforms.functional.normalize(y, (255 * 0.485, 255 * 0.456, 255 * 0.406),
                                                    (255 * 0.229, 255 * 0.224, 255 * 0.225))
    with torch.no_grad():
        direct = dinov2.load_dinov2(path).eval()(y)
    assert feats.shape == (4, 128)
    assert torch.allclose(feats, direct, atol=1e-5)
    assert float(feats.std(0).mean()) > 1e-2  # images map to different features
    assert offline == []


# -- CLIP -----------------------------------------------------------------------------------------------

def test_clip_official_file_is_the_one_torch_fidelity_would_download():
    from torch_fidelity.feature_extractor_clip import MODEL_METADATA, MODEL_URLS

    meta = MODEL_METADATA[clip_fidelity.EXTRACTOR]
    assert clip_fidelity.OFFICIAL_SHA256 == meta["hash"]
    assert clip_fidelity.WEIGHTS_URL == MODEL_URLS[clip_fidelity.EXTRACTOR]
    assert clip_fidelity.HUB_FILE == f"{clip_fidelity.EXTRACTOR}-{meta['hash']}.pt"


def test_clip_plumbing_with_test_weights(offline, monkeypatch, tmp_path):
    path = build_clip_weights(tmp_path / "clip-tiny.pt")
    monkeypatch.setenv(clip_fidelity.ENV_WEIGHTS, path)
    assert ClipFidelity.availability() is None
    assert ClipFidelity.supports(Mnist5k.info, "mnist5k") is None

    values, errors = evaluate([ClipFidelity()], tiny_ctx(tmp_path), "test")
    assert errors == {}
    v = {x.name: x for x in values}
    assert set(v) == {"fd_clip", "kid_clip", "precision_clip", "recall_clip"}
    fd = v["fd_clip"]
    assert fd.extractor == f"clip-vit-b-32-custom-{fd.extra['weights_sha256'][:8]}"
    assert {x.extractor for x in values} == {fd.extractor}
    assert fd.num_samples == N and fd.reference_split == "test"
    assert fd.extra["rank_deficient"] is True  # 10 samples, 32-d embedding
    assert math.isfinite(fd.value) and fd.value > 1e-3
    assert 0 <= v["precision_clip"].value <= 1 and 0 <= v["recall_clip"].value <= 1
    assert math.isnan(v["kid_clip"].value) and "KID needs" in v["kid_clip"].extra["skipped"]
    assert dict(doctor.feature_extractors())["extractor_clip"] == f"available at {path}"
    assert offline == []


def test_clip_weights_found_in_torch_fidelitys_download_cache(offline, tmp_path):
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    build_clip_weights(cache / clip_fidelity.HUB_FILE)
    assert clip_fidelity.clip_weights() == (str(cache / clip_fidelity.HUB_FILE), "")
    assert dinov2_fidelity.dinov2_weights()[0] is None  # the DINOv2 file is looked for in the same dir
    assert offline == []


# -- without weights ------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric, env, what", [(Dinov2Fidelity, dinov2_fidelity.ENV_WEIGHTS, "DINOv2 ViT-L/14"),
                                               (ClipFidelity, clip_fidelity.ENV_WEIGHTS, "CLIP ViT-B/32")])
def test_without_weights_unavailable_with_one_line_and_no_network(offline, tmp_path, metric, env, what):
    reason = metric.supports(Mnist5k.info, "mnist5k")
    assert reason == metric.availability()
    assert reason.startswith(f"{what} weights not found: set ${env} to ") and "never downloads" in reason
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in reason and "\n" not in reason
    values, errors = evaluate([metric()], tiny_ctx(tmp_path), "test")
    assert values == [] and errors[metric.name].endswith(reason)
    # Points data are refused for their shape, before the weights are looked at.
    from ganbench_plugins.datasets.ring8 import Ring8
    assert "images" in metric.supports(Ring8.info, "ring8")
    assert offline == []


def test_env_var_pointing_nowhere_is_reported(offline, monkeypatch, tmp_path):
    monkeypatch.setenv(dinov2_fidelity.ENV_WEIGHTS, str(tmp_path / "missing.pth"))
    assert "points at" in Dinov2Fidelity.availability() and "not a file" in Dinov2Fidelity.availability()


def test_doctor_and_list_say_which_extractors_are_available(offline):
    rows = dict(doctor.feature_extractors())
    assert list(rows) == ["extractor_inception", "extractor_dinov2", "extractor_clip"]
    assert all(v.startswith("unavailable: ") and "\n" not in v and "\t" not in v for v in rows.values())
    assert "$GANBENCH_DINOV2_WEIGHTS" in rows["extractor_dinov2"] and "$GANBENCH_CLIP_WEIGHTS" in rows["extractor_clip"]

    from ganbench.cli import cli
    result = CliRunner().invoke(cli, ["list", "metrics"], obj={})
    assert result.exit_code == 0, result.output
    lines = {line.split("\t")[0]: line.split("\t") for line in result.output.splitlines()}
    assert lines["dinov2_fidelity"][-1] == f"unavailable: {Dinov2Fidelity.availability()}"
    assert lines["clip_fidelity"][-1] == f"unavailable: {ClipFidelity.availability()}"
    assert lines["lenet_fidelity"][-1] == "available"
    assert offline == []


def test_the_guard_sees_torch_fidelitys_stock_dinov2_path(offline):
    """Why ganbench builds DINOv2 itself: torch-fidelity 0.4.0's ``dinov2-vit-l-14`` goes to torch.hub
    (and so to github.com) even when asked for a weights file."""
    from torch_fidelity.utils import create_feature_extractor

    with pytest.raises(OSError, match="network disabled"):
        create_feature_extractor("dinov2-vit-l-14", ["dinov2"], cuda=False, verbose=False)
    assert len(offline) == 1
    with pytest.raises(NotImplementedError):
        create_feature_extractor("dinov2-vit-l-14", ["dinov2"], cuda=False, verbose=False,
                                 feature_extractor_weights_path="/nonexistent.pth")
