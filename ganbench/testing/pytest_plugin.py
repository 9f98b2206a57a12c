"""pytest fixtures for plugin tests, registered through the ``pytest11`` entry point ``ganbench``.

* ``ganbench_host(*plugins)``: a plugin host with the given classes (or hook modules) loaded, not installed.
* ``tiny_points``, ``tiny_digits``, ``tiny_mnist``: tiny embedded datasets (2D points, 1x8x8, 1x28x28).
* ``results_dir``: an empty temporary results directory (``runs/`` inside), the runner's and report's input.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def ganbench_host():
    """A factory: ``ganbench_host(MyLoss, MyGAN)`` returns a host with those plugins loaded."""
    from ganbench.testing.common import make_host
    return make_host


@pytest.fixture
def tiny_points():
    from ganbench.testing.data import TinyPoints
    return TinyPoints()


@pytest.fixture
def tiny_digits():
    from ganbench.testing.data import TinyDigits
    return TinyDigits()


@pytest.fixture
def tiny_mnist():
    from ganbench.testing.data import TinyMnist
    return TinyMnist()


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    """An empty results directory; ``GANBENCH_CACHE`` points into the temporary dir too."""
    root = tmp_path / "results"
    (root / "runs").mkdir(parents=True)
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    return root
