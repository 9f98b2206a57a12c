"""A stand-alone DCGAN-64 training loop shaped like pytorch/examples' ``dcgan/main.py``.

Written for the benchmark, not copied: the same networks (nz 100, ngf = ndf = 64, 64 px RGB, BatchNorm,
ReLU / LeakyReLU(0.2), tanh and a sigmoid head, N(0, 0.02) init), the same loss (``nn.BCELoss`` on
sigmoid outputs, real label 1, fake label 0), the same optimisers (Adam 2e-4, betas (0.5, 0.999)) and
the same order of work per iteration:

1. D on a real batch, backward;
2. G on fresh noise, D on ``fake.detach()``, backward, D step;
3. D on the *same* fake batch (no second G forward), backward into G, G step.

Its ``--dataset fake`` draws random RGB images; here they are random tensors in [-1, 1] held in
memory (the harness also trains from memory, so neither side pays for a DataLoader).
``reuse_fake=False`` draws a new fake batch for step 3, as ganbench's protocol does, for a
like-for-like comparison of the work per step.
"""

from __future__ import annotations

import torch
from torch import nn

NZ, NGF, NDF, NC, SIDE = 100, 64, 64, 3, 64


def _block_up(c_in: int, c_out: int, first: bool = False) -> list[nn.Module]:
    conv = nn.ConvTranspose2d(c_in, c_out, 4, 1, 0, bias=False) if first else \
        nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU(True)]


def _block_down(c_in: int, c_out: int, norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    return layers + [nn.LeakyReLU(0.2, True)]


def make_generator() -> nn.Module:
    # 1x1 noise -> 4 -> 8 -> 16 -> 32 -> 64, halving the width each time.
    return nn.Sequential(*_block_up(NZ, NGF * 8, first=True), *_block_up(NGF * 8, NGF * 4),
                         *_block_up(NGF * 4, NGF * 2), *_block_up(NGF * 2, NGF),
                         nn.ConvTranspose2d(NGF, NC, 4, 2, 1, bias=False), nn.Tanh())


def make_discriminator() -> nn.Module:
    # 64 -> 32 -> 16 -> 8 -> 4 -> one probability; no BatchNorm on the input layer.
    return nn.Sequential(*_block_down(NC, NDF, norm=False), *_block_down(NDF, NDF * 2),
                         *_block_down(NDF * 2, NDF * 4), *_block_down(NDF * 4, NDF * 8),
                         nn.Conv2d(NDF * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())


def _init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ReferenceDCGAN:
    """``step()`` is one iteration of the reference loop on batch ``batch`` of an in-memory fake dataset."""

    def __init__(self, batch: int = 64, pool: int = 4, seed: int = 0, device: str = "cpu",
                 reuse_fake: bool = True):
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.batch = batch
        self.reuse_fake = reuse_fake
        self.netG = make_generator().to(self.device)
        self.netD = make_discriminator().to(self.device)
        self.netG.apply(_init)
        self.netD.apply(_init)
        self.criterion = nn.BCELoss()
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.data = (torch.rand(pool * batch, NC, SIDE, SIDE) * 2 - 1).to(self.device)
        self.i = 0

    def _noise(self) -> torch.Tensor:
        return torch.randn(self.batch, NZ, 1, 1, device=self.device)

    def step(self) -> tuple[float, float]:
        n_batches = self.data.shape[0] // self.batch
        k = self.i % n_batches
        self.i += 1
        real = self.data[k * self.batch:(k + 1) * self.batch]
        ones = torch.ones(self.batch, device=self.device)
        zeros = torch.zeros(self.batch, device=self.device)

        # (1) maximise log D(x) + log(1 - D(G(z))): real and fake terms, each backward on its own.
        self.netD.zero_grad()
        err_real = self.criterion(self.netD(real).view(-1), ones)
        err_real.backward()
        fake = self.netG(self._noise())
        err_fake = self.criterion(self.netD(fake.detach()).view(-1), zeros)
        err_fake.backward()
        self.optD.step()

        # (2) maximise log D(G(z)), on the same fakes unless told to draw new ones.
        self.netG.zero_grad()
        if not self.reuse_fake:
            fake = self.netG(self._noise())
        err_g = self.criterion(self.netD(fake).view(-1), ones)
        err_g.backward()
        self.optG.step()
        # The reference prints these every iteration, which reads them back from the device.
        return (err_real + err_fake).item(), err_g.item()
