"""What a result depends on besides its specification: library versions, commit, hardware."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import socket
import subprocess
from pathlib import Path


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the ganbench source tree, with ``+dirty`` when it has local changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip()
        if not commit:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_name(device: str) -> str | None:
    import torch
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return None


def versions(host=None) -> dict:
    import sys
    out = {name.replace("-", "_"): _version(name) for name in ("ganbench", "torch", "torchvision", "torch-fidelity")}
    out["python"] = sys.version.split()[0]
    if host is not None:
        out["plugins"] = {p.name: f"{p.distribution}=={p.version}" for p in host.plugins()}
    return out


def environment(device: str) -> dict:
    import os
    return {"git_commit": git_commit(), "hostname": socket.gethostname(), "cpu": cpu_name(),
            "cpu_count": os.cpu_count(), "gpu": gpu_name(device), "platform": platform.platform()}
