"""Technique plugin: spectral normalisation of the discriminator."""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ganbench import hookimpl
from ganbench.api import Technique

NORMALISED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
                     nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


class SpectralNorm(Technique):
    """Spectral normalisation: each Conv/Linear weight of D is divided by its largest singular value.

    Miyato, Kataoka, Koyama and Yoshida (2018), "Spectral Normalization for Generative Adversarial
    Networks", ICLR. Bounding each layer's spectral norm by 1 bounds the Lipschitz constant of D,
    which keeps its gradients informative. The singular value is estimated with
    ``spectral_norm_power_iterations`` power iterations per forward pass in training mode (1 in the
    paper), using :func:`torch.nn.utils.parametrizations.spectral_norm`. As in that function,
    convolution kernels are normalised as ``[out, in*k*k]`` matrices (the paper's approximation).

    Layers already spectrally normalised (by the architecture, or by either of torch's spectral-norm
    APIs) are left alone. Embeddings (projection discriminators) are not touched.
    """

    name = "spectral_norm"
    discrete_samples = True  # never touches what D sees nor replaces the generator loss (token data)
    paper = ("Miyato, Kataoka, Koyama, Yoshida (2018). Spectral Normalization for Generative "
             "Adversarial Networks. ICLR.")
    encoder_compatible = True  # normalises D's layers in place; D's forward on (x, z) pairs is unchanged
    defaults = {"spectral_norm_power_iterations": 1}
    hparam_docs = {
        "spectral_norm_power_iterations": "power iterations per forward pass estimating each largest singular value",
    }
    hparam_limits = {
        "spectral_norm_power_iterations": {"low": 1},
    }

    def wrap_discriminator(self, discriminator, data):
        iterations = int(self.hparams["spectral_norm_power_iterations"])
        # Listed first: parametrizing a layer adds modules that modules() would then visit.
        layers = [m for m in discriminator.modules() if isinstance(m, NORMALISED_LAYERS)]
        for layer in layers:
            if getattr(layer, "weight", None) is not None and not is_spectrally_normalised(layer):
                spectral_norm(layer, n_power_iterations=iterations)
        return discriminator


def is_spectrally_normalised(layer: nn.Module) -> bool:
    if hasattr(layer, "weight_orig"):  # torch.nn.utils.spectral_norm, the hook-based API
        return True
    if parametrize.is_parametrized(layer, "weight"):
        return any(type(p).__name__ == "_SpectralNorm" for p in layer.parametrizations["weight"])
    return False


@hookimpl
def ganbench_register_techniques(registry):
    registry.add(SpectralNorm)
