"""What this machine offers, and whether a precision is worth running here (``ganbench doctor``).

torch is imported inside the functions, never at import time, so ``ganbench --help`` stays fast.

Where the numbers below come from:

- bf16 on a CPU without native bf16: issue "Speed", point 4. On an AVX2-only CPU, Conv2d 64->128
  forward+backward took 5.0 s under bf16 autocast and 0.26 s in fp32 (about 20x).
- bf16 and fp16 on a CPU with AMX: measured when this module was written, on an "Intel(R) Xeon(R)
  Processor" with amx_bf16, avx512_bf16 and avx512_fp16 (no amx_fp16), torch 2.14.1, one thread,
  forward+backward per step. Conv2d(64, 128, 3) on a 32x64x16x16 input: fp32 22 ms, bf16 8.0 ms
  (2.8x faster), fp16 2955 ms (about 130x slower). A 2-128-128-2 MLP on batch 256: fp32 0.31 ms,
  bf16 0.43 ms (0.7x), fp16 0.55 ms.
- The same on an "AMD EPYC" with avx512_bf16 but no AMX (Zen 4; torch capability AVX512), torch
  2.14.1, one thread, 2026-12-04: Conv2d fp32 29 ms, bf16 16 ms (1.8x faster), fp16 314 ms (11x
  slower); the MLP fp32 0.64 ms, bf16 0.74 ms (0.86x), fp16 5.3 ms. The DCGAN-64 training step of
  ``make benchmark`` ran 1.9x faster in bf16 at one thread there, as on the AMX Xeon (README, Speed).
- torch.compile on CPU: issue "Speed". Against eager, 0.6x on the MLP and 0.85x on DCGAN, and 17-27 s
  of cold compile.
- CUDA: the README's "Speed" section (one H100, torch 2.11, DCGAN on MNIST-5k, batch 128). fp32 ran
  18.5k img/s, bf16 13.8k, bf16 + channels_last 14.5k, and the same with --compile 12.9k. These small
  models are bound by kernel-launch overhead.
- Vectorised seeds: the README's "Speed" section. The MLP's grouped backend against K sequential
  steps, 2.0-2.8x at K = 4-8 on a 2-core AMD EPYC; DCGAN's channels fold 0.85-0.87x at K = 2-8 on a
  2-core Xeon (oneDNN's grouped convolutions), hence opt-in there (``ganbench.vectorized.unsupported``).

The precision policy is in :func:`precision_problem`:

- fp32 is always fine.
- bf16 on a CPU is refused unless the CPU has native bf16 (AVX512_BF16 or AMX-BF16 on x86, the BF16
  extension on aarch64).
- fp16 on a CPU is refused on every CPU. Even a CPU with AVX512_FP16 ran it about 130x slower than
  fp32 (above), and a Zen 4 11x, and ganbench's fp16 path, autocast with a GradScaler, is tuned for CUDA. AMX-FP16
  CPUs have not been measured; they still need ``--force-precision``.
- bf16 on CUDA is refused when the GPU has no native bf16 (compute capability below 8.0). fp16 on
  CUDA is fine.
- MPS is left to torch: nothing there has been measured.
"""

from __future__ import annotations

import functools
import os
import platform

# CPU features that make bf16 autocast native: x86 flags as /proc/cpuinfo spells them, and the
# aarch64 hwcap (the "Features" line). x86 never reports a bare "bf16", so one set serves both.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})

FORCE_HINT = "--force-precision to run anyway"


# --------------------------------------------------------------------------------------------- CPU
@functools.lru_cache(maxsize=1)
def _proc_cpuinfo_flags() -> frozenset[str] | None:
    """The first "flags" (x86) or "Features" (aarch64) line of /proc/cpuinfo, or None without one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return None


def cpu_capability() -> str:
    """What ATen's CPU kernels dispatch to: "AVX2", "AVX512", "DEFAULT", "SVE256", ..."""
    import torch
    try:
        return torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return "unknown"


def cpu_flags() -> set[str]:
    """This CPU's feature flags, lower case: /proc/cpuinfo on Linux (empty elsewhere), plus ATen's
    dispatch capability (e.g. "avx2", "avx512")."""
    flags = set(_proc_cpuinfo_flags() or ())
    capability = cpu_capability()
    if capability not in ("DEFAULT", "NO AVX", "unknown"):
        flags.add(capability.lower())
    return flags


def _onednn_bf16() -> bool:
    """oneDNN's own check. It is only used where /proc/cpuinfo does not exist, because on x86 it also
    says yes for plain AVX512 (emulated bf16)."""
    import torch
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def native_bf16_cpu(flags=None) -> bool:
    """True when the CPU runs bf16 natively: AVX512_BF16 or AMX-BF16 (x86), the BF16 extension
    (aarch64). ``flags`` is a set of lower-case flag names that replaces this machine's flags (for
    tests). Without /proc/cpuinfo (macOS, Windows) the answer comes from oneDNN."""
    if flags is None:
        if _proc_cpuinfo_flags() is None:
            return _onednn_bf16()
        flags = cpu_flags()
    return bool(BF16_FLAGS & {f.lower() for f in flags})


def _cpu_label(flags) -> str:
    """The CPU's vector level for messages: "AVX2", "AVX512", "aarch64", ..."""
    flags = {f.lower() for f in flags}
    if flags & {"avx512f", "avx512"}:
        return "AVX512"
    if "avx2" in flags:
        return "AVX2"
    if "avx" in flags:
        return "AVX"
    if "asimd" in flags or platform.machine().lower() in ("aarch64", "arm64"):
        return "aarch64"
    return platform.machine() or "unknown CPU"


def _lacks_bf16(flags) -> str:
    label = _cpu_label(flags)
    return f"{label}, no BF16 extension" if label == "aarch64" else f"{label}, no AVX512_BF16/AMX"


# ------------------------------------------------------------------------------------------ device
def resolve_device(device: str | None) -> str:
    """What ``--device auto`` means here. It follows ganbench.runner.resolve_device: CUDA, then MPS, then CPU."""
    import torch
    device = device or "auto"
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    return device


def device_problem(device: str) -> str | None:
    """None when ``device`` ("auto", "cpu", "cuda", "mps") exists on this machine, else one line saying
    what is missing. A run on a missing device can only fail, so this is asked before any run."""
    import torch
    kind = device.split(":", 1)[0]
    if kind == "cuda" and not torch.cuda.is_available():
        return f"no CUDA device here: {_cuda_summary()}"
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            return "no MPS device here (MPS is Apple silicon under macOS)"
    return None


def _cuda_native_bf16() -> bool:
    import torch
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch without the keyword (before 2.3) does not count emulation
        return bool(torch.cuda.is_bf16_supported())


def _cuda_name() -> str:
    import torch
    try:
        return torch.cuda.get_device_name()
    except Exception:  # noqa: BLE001 - only used to word a message
        return "this GPU"


def precision_problem(precision: str, device: str, flags=None) -> str | None:
    """None when ``precision`` is worth running on ``device`` here. Otherwise one line that says why
    not and what to use instead; the caller stops with it (exit 2) unless --force-precision is given.

    ``device`` is what the run spec says ("auto", "cpu", "cuda", "cuda:1", "mps"); "auto" is resolved
    as the runner resolves it. ``flags`` replaces this machine's CPU flags (for tests). The policy is
    described in the module docstring."""
    if precision not in ("bf16", "fp16"):
        return None
    kind = resolve_device(device).split(":", 1)[0]
    if kind == "cpu":
        if flags is None:
            flags = cpu_flags()
            native = native_bf16_cpu()
        else:
            native = native_bf16_cpu(flags)
        if precision == "bf16" and not native:
            return (f"bf16 autocast on this CPU ({_lacks_bf16(flags)}) runs about 20x slower than fp32; "
                    f"use --precision fp32, or {FORCE_HINT}")
        if precision == "fp16":
            instead = "--precision bf16 (native on this CPU) or fp32" if native else "--precision fp32"
            return (f"fp16 autocast on a CPU runs far slower than fp32 (about 130x for a Conv2d, even with "
                    f"AVX512_FP16); use {instead}, or {FORCE_HINT}")
        return None
    if kind == "cuda" and precision == "bf16":
        import torch
        if torch.cuda.is_available() and not _cuda_native_bf16():
            return (f"bf16 autocast needs a GPU with native bf16 (compute capability 8.0+), which "
                    f"{_cuda_name()} lacks; use --precision fp16 or fp32, or {FORCE_HINT}")
    return None


def check_precision(precision: str, device: str, force: bool = False) -> str | None:
    """Raise UsageError (exit 2) with :func:`precision_problem`'s line unless ``force``. With ``force``
    it returns the line (or None), so the caller can log a warning."""
    problem = precision_problem(precision, device)
    if problem and not force:
        from ganbench.errors import UsageError
        raise UsageError(problem)
    return problem


# ------------------------------------------------------------------------------ feature extractors
FEATURE_EXTRACTORS = (  # doctor key, metric plugin module, its weights lookup
    ("extractor_inception", "ganbench_plugins.metrics.inception_fidelity", "inception_weights"),
    ("extractor_dinov2", "ganbench_plugins.metrics.dinov2_fidelity", "dinov2_weights"),
    ("extractor_clip", "ganbench_plugins.metrics.clip_fidelity", "clip_weights"),
)


def feature_extractors() -> list[tuple[str, str]]:
    """One row per pretrained feature extractor: "available at PATH" or "unavailable: how to get it".

    The weights are looked up exactly as the metric plugins look them up (their environment variable,
    then the cache a library's downloader writes to), with no network access and no torch import."""
    import importlib

    rows = []
    for key, module, lookup in FEATURE_EXTRACTORS:
        path, reason = getattr(importlib.import_module(module), lookup)()
        rows.append((key, f"available at {path}" if path else f"unavailable: {reason}"))
    return rows


# ------------------------------------------------------------------------------------------ report
def _cuda_summary() -> str:
    import torch
    if torch.version.cuda is None:
        return "none (torch built without CUDA)"
    if not torch.cuda.is_available():
        return f"none visible (torch built for CUDA {torch.version.cuda})"
    count = torch.cuda.device_count()
    names = {}
    for i in range(count):
        props = torch.cuda.get_device_properties(i)
        label = f"{props.name} ({props.total_memory / 2**30:.0f} GiB, sm_{props.major}{props.minor})"
        names[label] = names.get(label, 0) + 1
    return ", ".join(f"{n} x {label}" for label, n in names.items()) + f"; CUDA {torch.version.cuda}"


def _verdicts(device: str, native_cpu_bf16: bool) -> list[tuple[str, str]]:
    """Whether each speed option is expected to pay off on ``device``. See the module docstring for
    where each number comes from."""
    if device == "cpu":
        if native_cpu_bf16:
            bf16 = ("maybe: native here; a Conv2d ran 1.8-2.8x faster than fp32 and a DCGAN-64 step 1.9x "
                    "(AMX Xeon, AMD EPYC with AVX512_BF16), but a tiny MLP 0.7-0.86x")
        else:
            bf16 = "no: about 20x slower than fp32 without AVX512_BF16/AMX; refused without --force-precision"
        return [
            ("bf16", bf16),
            ("fp16", "no: 11-130x slower than fp32 for a Conv2d on CPU, even with AVX512_FP16; "
                     "refused without --force-precision"),
            ("torch_compile", "opt-in: measured slower than eager on small CPU models (0.6x MLP, 0.85x DCGAN) "
                              "and 17-27 s cold compile"),
            ("cuda_graphs", "no: no CUDA device"),
            ("vectorize_seeds", "yes for architectures declaring a vectorised form (MLP: 2.0-2.8x over sequential "
                                "at K=4-8 on 2 cores); a channels fold (DCGAN) only with --vectorize-seeds K, "
                                "as it ran 0.85x sequential on a CPU"),
        ]
    if device.startswith("cuda"):
        if _cuda_native_bf16():
            bf16 = "unlikely: DCGAN ran 13.8k img/s vs 18.5k in fp32 on an H100 (launch-bound); larger models may gain"
        else:
            bf16 = "no: this GPU has no native bf16 (needs sm_80+); refused without --force-precision"
        return [
            ("bf16", bf16),
            ("fp16", "untested: not measured; small models are launch-bound, so expect little gain"),
            ("torch_compile", "unlikely: DCGAN bf16+channels_last ran 12.9k img/s with it vs 14.5k without on an H100"),
            ("cuda_graphs", "maybe: small models are launch-bound, which graphs address; --compile-mode "
                            "reduce-overhead captures them (not yet measured here)"),
            ("vectorize_seeds", "maybe: K seeds as one computation address launch-bound steps; only with "
                                "--vectorize-seeds K on CUDA (written, not yet measured on a GPU)"),
        ]
    return [  # mps, or anything else torch knows
        ("bf16", f"untested: not measured on {device}"),
        ("fp16", f"untested: not measured on {device}"),
        ("torch_compile", f"untested: not measured on {device}; opt-in"),
        ("cuda_graphs", "no: no CUDA device"),
        ("vectorize_seeds", f"no: seeds are vectorised on the CPU and CUDA only, not on {device}"),
    ]


def report() -> list[tuple[str, str]]:
    """What this machine offers, as (key, value) pairs in display order. Verdicts are for the device
    that ``--device auto`` picks; the last rows say which feature extractors have weights here."""
    import torch

    from ganbench import __version__
    from ganbench.provenance import cpu_name

    device = resolve_device("auto")
    flags = cpu_flags()
    native = native_bf16_cpu()
    have = sorted(BF16_FLAGS & flags)
    if native:
        bf16_cpu = "yes" + (f" ({', '.join(have)})" if have else " (oneDNN)")
    else:
        bf16_cpu = f"no ({_lacks_bf16(flags)})"
    rows = [
        ("ganbench", __version__),
        ("torch", torch.__version__),
        ("device", device),
        ("cuda", _cuda_summary()),
        ("cpu", cpu_name()),
        ("cpu_arch", platform.machine() or "unknown"),
        ("cpu_capability", cpu_capability()),
        ("cpu_native_bf16", bf16_cpu),
        ("torch_threads", str(torch.get_num_threads())),
        ("cpu_count", str(os.cpu_count())),
    ]
    if hasattr(os, "sched_getaffinity"):
        rows.append(("cpus_usable", str(len(os.sched_getaffinity(0)))))
    return rows + _verdicts(device, native) + feature_extractors()
