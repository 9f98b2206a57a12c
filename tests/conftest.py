import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Tiny models run fastest on one thread, and a shared 2-core CI box gains nothing from more.
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def evaluator_cache(tmp_path_factory):
    """Evaluators and decoded data are cached once per test session, never in the user's home."""
    path = tmp_path_factory.getbasetemp() / "ganbench-cache"
    old = os.environ.get("GANBENCH_CACHE")
    os.environ["GANBENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GANBENCH_CACHE", None)
    else:
        os.environ["GANBENCH_CACHE"] = old


@pytest.fixture(scope="session")
def evaluator(evaluator_cache):
    """The LeNet evaluator of mnist5k, trained once per session."""
    from ganbench.evaluators import get_evaluator
    from ganbench_plugins.datasets.mnist5k import Mnist5k
    return get_evaluator(Mnist5k())


@pytest.fixture(scope="session")
def toy_plugin_path(tmp_path_factory) -> Path:
    """A real third-party distribution, installed by pip into its own directory (not into the venv).

    Putting that directory on PYTHONPATH makes its ``ganbench`` entry points visible to
    importlib.metadata, exactly as after ``pip install ganbench-toy``."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("build") / "toy_plugin"
    shutil.copytree(ROOT / "tests" / "toy_plugin", source)  # the build writes next to its sources
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, capture_output=True)
    return target


def run_cli(*args, env_extra=None, cwd=None, timeout=600):
    """Run the installed `ganbench` console script in a fresh process."""
    env = {**os.environ, **(env_extra or {})}
    exe = Path(sys.executable).with_name("ganbench")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture
def one_thread():
    """torch at one thread for the test (results and their comparisons depend on the thread count)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
