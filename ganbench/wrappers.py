"""Building blocks for techniques that wrap a discriminator (part of the plugin-author kit)."""

from __future__ import annotations

from torch import nn


class DiscriminatorWrapper(nn.Module):
    """A discriminator around another one, ``self.inner``.

    Attributes the wrapper lacks (``features``, InfoGAN's ``auxiliary_loss``, ...) are looked up on
    the inner discriminator, so techniques stack in any order without knowing about each other.
    """

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            modules = self.__dict__.get("_modules", {})
            if "inner" not in modules:  # during __init__, before inner is set
                raise
            return getattr(modules["inner"], name)
