"""``ganbench new-plugin NAME --kind KIND``: write a plugin package whose own tests pass as generated.

The package is ``<out>/ganbench-<name>/`` with ``pyproject.toml`` (the ``ganbench`` entry point),
``ganbench_<name>/__init__.py`` (the plugin: a working, tiny example of its kind with a docstring and
citation to replace), ``tests/test_<name>.py`` (the kind's contract from :mod:`ganbench.testing`) and a
``README.md``. Each template is the smallest correct plugin of its kind, so the contract passes before
the author changes anything and keeps telling them what broke once they do.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from ganbench.errors import UsageError

KINDS = ("architecture", "loss", "technique", "dataset", "metric", "report_format", "task")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# What the author must replace is marked TODO; the values are valid so that the tests pass meanwhile.
PAPER = '"Doe, J. and Roe, R. (2026). TODO: the title of the paper. TODO: venue."'

PLUGINS = {
    "loss": '''"""$title: a GAN loss plugin for ganbench."""

import torch
import torch.nn.functional as F

from ganbench import hookimpl
from ganbench.api import Loss


class $cls(Loss):
    """$title loss (TODO: one line saying what it is; the first line is what `ganbench list` shows).

    Scores are the discriminator's raw outputs, float32, shape [B]; higher means "more real".
    This template is the non-saturating logistic loss (Goodfellow et al., 2014): replace the formulas.
    """

    name = "$name"
    paper = $paper
    defaults = {}  # hyperparameters from the paper, e.g. {"n_critic": 1}; overridable with --hparam

    def discriminator_loss(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()

    def generator_loss(self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake_scores).mean()


@hookimpl
def ganbench_register_losses(registry):
    registry.add($cls)
''',
    "architecture": '''"""$title: a GAN architecture plugin for ganbench."""

import math

import torch
from torch import nn

from ganbench import hookimpl
from ganbench.api import Architecture, DataInfo


class Generator(nn.Module):
    conditional = False

    def __init__(self, data: DataInfo, z_dim: int, width: int):
        super().__init__()
        self.z_dim, self.shape, self.is_image = z_dim, tuple(data.shape), data.is_image
        self.net = nn.Sequential(nn.Linear(z_dim, width), nn.LeakyReLU(0.2), nn.Linear(width, math.prod(self.shape)))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = self.net(z).view(z.shape[0], *self.shape)
        return torch.tanh(x) if self.is_image else x  # images in [-1, 1]; points in the data's coordinates


class Discriminator(nn.Module):
    def __init__(self, data: DataInfo, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(data.shape), width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).squeeze(1)  # one raw score per sample, shape [B]


class $cls(Architecture):
    """$title (TODO: one line saying what it is; the first line is what `ganbench list` shows).

    This template is a two-layer MLP generator and discriminator for any shape: replace the modules.
    """

    name = "$name"
    paper = $paper
    defaults = {"batch_size": 64, "z_dim": 16, "width": 64, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5,
                "beta2": 0.999, "n_critic": 1}
    hparam_docs = {"width": "hidden units of both MLPs"}  # keys the core does not know need a line each

    @classmethod
    def supports(cls, data: DataInfo) -> str | None:
        return None  # or one line saying why not, e.g. "2D points only"

    def build(self, data: DataInfo, hparams):
        width = int(hparams["width"])
        return Generator(data, int(hparams["z_dim"]), width), Discriminator(data, width)


@hookimpl
def ganbench_register_architectures(registry):
    registry.add($cls)
''',
    "technique": '''"""$title: a GAN training technique plugin for ganbench."""

import torch

from ganbench import hookimpl
from ganbench.api import StepContext, Technique


class $cls(Technique):
    """$title (TODO: one line saying what it is; the first line is what `ganbench list` shows).

    This template adds Gaussian noise of a fixed std to everything the discriminator sees (instance
    noise). Randomness comes from ``ctx.rng``, never the global RNG, so runs reproduce and resume.
    """

    name = "$name"
    paper = $paper
    defaults = {"${name}_std": 0.1}
    hparam_docs = {"${name}_std": "std of the Gaussian noise added to D's inputs"}

    def discriminator_input(self, x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        gen = ctx.rng
        noise = torch.randn(x.shape, generator=gen, device=gen.device, dtype=x.dtype).to(x.device)
        return x + float(self.hparams["${name}_std"]) * noise


@hookimpl
def ganbench_register_techniques(registry):
    registry.add($cls)
''',
    "dataset": '''"""$title: a dataset plugin for ganbench."""

import math

import torch

from ganbench import hookimpl
from ganbench.api import DataInfo, Dataset

SEEDS = {"train": 0, "val": 1, "test": 2}


class $cls(Dataset):
    """$title (TODO: one line saying what it is; the first line is what `ganbench list` shows).

    This template is four Gaussians on the unit circle, 256 points per split, generated from a fixed
    seed per split (deterministic in any process): replace ``load``.
    """

    name = "$name"
    paper = $paper
    info = DataInfo(shape=(2,), kind="points", num_modes=4)
    sizes = {"train": 256, "val": 256, "test": 256}

    def load(self, split: str):
        if split not in SEEDS:
            raise ValueError(f"unknown split {split!r}; valid: {', '.join(SEEDS)}")
        gen = torch.Generator().manual_seed(SEEDS[split])
        n = self.sizes[split]
        angle = 2 * math.pi * torch.randint(4, (n,), generator=gen) / 4
        centres = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        return (centres + 0.05 * torch.randn(n, 2, generator=gen)).float(), None  # no labels


@hookimpl
def ganbench_register_datasets(registry):
    registry.add($cls)
''',
    "metric": '''"""$title: a metric plugin for ganbench."""

import torch

from ganbench import hookimpl
from ganbench.api import MetricValue, Metric


class $cls(Metric):
    """$title (TODO: one line saying what it is; the first line is what `ganbench list` shows).

    This template is the mean distance from each generated sample to its nearest real sample of the
    split (lower is better): replace ``compute``.
    """

    name = "$name"
    paper = $paper

    def __init__(self, num_samples: int = 256):
        self.num_samples = num_samples

    def compute(self, ctx, split: str) -> list[MetricValue]:
        fake = ctx.sample(self.num_samples).flatten(1)
        real = ctx.reference(split)[0].flatten(1).float()
        value = float(torch.cdist(fake, real).min(dim=1).values.mean())
        return [MetricValue("$name", value, higher_is_better=False, num_samples=self.num_samples,
                            reference_split=split)]


@hookimpl
def ganbench_register_metrics(registry):
    registry.add($cls)
''',
    "report_format": '''"""$title: a report format plugin for ganbench."""

import os

from ganbench import hookimpl
from ganbench.api import ReportFormat


class $cls(ReportFormat):
    """$title (TODO: one line saying what it is; the first line is what `ganbench list` shows).

    This template writes every table as tab-separated text, one file: replace ``render``.
    """

    name = "$name"
    paper = $paper
    extension = "txt"

    def render(self, report, out_dir: str) -> list[str]:
        lines = [f"ganbench {report.ganbench_version}: {report.runs} runs"]
        for table in report.tables:
            lines += ["", table.title, "\\t".join(c.label for c in table.columns)]
            lines += ["\\t".join(cell.text for cell in row) for row in table.rows]
        path = os.path.join(out_dir, "$name.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\\n".join(lines) + "\\n")
        return [path]


@hookimpl
def ganbench_register_report_formats(registry):
    registry.add($cls)
''',
    "task": '''"""$title: a benchmark task plugin for ganbench."""

from ganbench import hookimpl
from ganbench.api import Task


class $cls(Task):
    """$title (TODO: one line saying what it is; the first line is what `ganbench list` shows).

    This template is a generation task scored by two metrics: change what its generator is given
    (``generator_input``), the data it needs (``needs``), its metrics and its table. Architectures and
    losses serve it by naming "$name" in their ``tasks``; datasets declare what they ``holds``.
    """

    name = "$name"
    paper = $paper
    generator_input = "noise"
    needs = "samples"
    metrics = ("mode_coverage", "density_coverage")
    table = "$title"


@hookimpl
def ganbench_register_tasks(registry):
    registry.add($cls)
''',
}

CONTRACT = {"architecture": "ArchitectureContract", "loss": "LossContract", "technique": "TechniqueContract",
            "dataset": "DatasetContract", "metric": "MetricContract", "report_format": "ReportFormatContract",
            "task": "TaskContract"}
EXTRA = {  # keep the generated tests fast: the kit checks plumbing, not quality
    "architecture": '    hparams_override = {"width": 16}\n',
    "metric": '    metric_kwargs = {"num_samples": 32}\n',
}

TEST = '''"""ganbench's contract for $name: run with `pytest` (nothing needs to be installed)."""

from ganbench.testing import $contract

from $package import $cls


class Test$cls($contract):
    plugin = $cls
$extra'''

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "$title: a ganbench $kind plugin"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["ganbench"]

[project.optional-dependencies]
test = ["pytest>=8"]

# How ganbench finds the plugin once installed: group "ganbench", any name, the module with the hooks.
[project.entry-points.ganbench]
$name = "$package"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]   # the tests import the plugin from this checkout, installed or not
'''

README = '''# $dist

$title: a ganbench $kind plugin, registered as `$name`.

```sh
pip install -e .            # ganbench now lists it: ganbench plugins
pytest                      # ganbench's contract for a $kind (works without installing, too)
```

Edit `$package/__init__.py`: replace the TODOs in the docstring and `paper`, then the template's code.
The tests in `tests/` run ganbench's contract for a $kind (`ganbench.testing.$contract`); a
failure says what was expected and what came. See ganbench's docs/plugins.md for every hook, base
class and convention.
'''


def new_plugin(name: str, kind: str, out: str | Path = ".") -> Path:
    """Write the package for plugin ``name`` of ``kind`` under ``out``; return its directory."""
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    if not NAME.match(name):
        raise UsageError(f"plugin name {name!r} is not lowercase snake_case (like my_loss)")
    dist = "ganbench-" + name.replace("_", "-")
    root = Path(out) / dist
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} already exists and is not empty")
    package = f"ganbench_{name}"
    cls = "".join(part.capitalize() for part in name.split("_"))
    values = {"name": name, "cls": cls, "package": package, "dist": dist, "kind": kind, "paper": PAPER,
              "title": name.replace("_", " ").capitalize(), "contract": CONTRACT[kind], "extra": EXTRA.get(kind, "")}
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{package}/__init__.py": PLUGINS[kind],
        f"tests/test_{name}.py": TEST,
    }
    for rel, template in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values), encoding="utf-8")
    return root
