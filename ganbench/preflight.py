"""What ``ganbench run`` and ``ganbench report`` check before they write anything.

A mistake found inside a run is stored as a permanent ``failed`` result, once per run; found here it
costs one line on stderr and nothing on disk. Each check raises :class:`~ganbench.errors.UsageError`
(exit 2) for a request that cannot be right anywhere, or :class:`~ganbench.errors.EnvironmentProblem`
(exit 4) for one this machine cannot carry out.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

from ganbench.errors import EnvironmentProblem, UsageError

# Above this many runs `ganbench run` asks for --yes: a typo in a seed range or a "*" too many should
# not start a week of training.
MAX_RUNS_WITHOUT_YES = 5000

def writable_dir(path: str, option: str) -> None:
    """``path`` is a directory ganbench can create files in, or one it can create: its nearest existing
    ancestor is a writable directory."""
    if not str(path).strip():
        raise UsageError(f"{option}: empty; give a directory")
    target = Path(path)
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        kind = "a file" if probe.is_file() else "not a directory"
        where = f"{path!r} is {kind}" if probe == target else f"{str(probe)!r} in {path!r} is {kind}"
        raise UsageError(f"{option}: {where}; give a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise EnvironmentProblem(f"{option} {path!r}: {str(probe)!r} is not writable (read-only or no permission)")


def check_devices(devices: Iterable[str], origin: str) -> None:
    """Every device the runs name exists here; ``origin`` says where the device was asked for."""
    from ganbench.doctor import device_problem
    for device in sorted(set(devices)):
        problem = device_problem(device)
        if problem:
            raise UsageError(f"{origin} {device}: {problem}; use --device cpu or auto")


def hparam_problem(key: str, value: Any, default: Any) -> str | None:
    """Why ``value`` cannot replace a plugin's declared ``default`` of ``key`` (None if it can): the
    default's type, and the range :data:`ganbench.api.CORE_HPARAMS` gives the training loop's own keys."""
    from ganbench.api import CORE_HPARAM_NAMES, HParam
    core = CORE_HPARAM_NAMES.get(key)
    declared = dataclasses.replace(core, default=default) if core else HParam(key, default)
    return declared.problem(value)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _listed(names: list[str], most: int = 3) -> str:
    names = list(dict.fromkeys(names))
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _unknown(name: str, valid: set[str], runs) -> str:
    """The message for an undeclared ``name``: where, the closest valid names, all the valid ones."""
    close = difflib.get_close_matches(name, sorted(valid), n=3, cutoff=0.6)
    where = f"{_listed([s.variant for s in runs])} on {_listed([s.dataset for s in runs])}"
    hint = f"; did you mean {' or '.join(close)}?" if close else ";"
    return f"unknown hyperparameter for {where}{hint} valid: {', '.join(sorted(valid))}"


def run_schema(host, spec):
    """The hyperparameters a run declares (:func:`ganbench.api.hparam_schema` of its plugins)."""
    from ganbench.api import hparam_schema
    return hparam_schema([host.tasks.get(spec.task), host.architectures.get(spec.arch), host.losses.get(spec.loss),
                          *(host.techniques.get(t) for t in spec.techniques)])


def check_hparams(host, study, runs, cli_hparams: dict[str, Any]) -> None:
    """Every hyperparameter a run is given is declared, with a value of its declared type and range.

    A key is known when at least one planned run declares it (a study's ``[hparams.<dataset>]`` may set a
    key that only some of its losses read, such as ``r1_gamma``): ``--hparam`` and ``[hparams]`` are
    judged over all the planned runs, ``[hparams.<dataset>]`` over that dataset's runs. Each run then
    checks the values of the keys it declares."""
    runs = list(runs)
    schemas = {}
    for spec in runs:
        key = (spec.arch, spec.loss, spec.techniques)
        if key not in schemas:
            schemas[key] = run_schema(host, spec)

    def known(subset) -> set[str]:
        return set().union(*(schemas[(s.arch, s.loss, s.techniques)] for s in subset)) if subset else set()

    if runs:
        everywhere = known(runs)
        for name, value in cli_hparams.items():
            if name not in everywhere:
                raise UsageError(f"--hparam {name}={_shown(value)}: {_unknown(name, everywhere, runs)}")
        for name, value in study.hparams.items():
            if name not in everywhere and name not in cli_hparams:
                raise UsageError(f"study {study.source}: hparams.{name}: {_unknown(name, everywhere, runs)}")
        for dataset, table in study.dataset_hparams.items():
            on = [s for s in runs if s.dataset == dataset]
            valid = known(on)
            for name in table:
                if on and name not in valid and name not in cli_hparams:
                    raise UsageError(f"study {study.source}: hparams.{dataset}.{name}: {_unknown(name, valid, on)}")
        for matrix in study.matrix_list():
            on = [s for s in runs if matrix.produces(s.variant, s.dataset)]
            valid = known(on)
            for name in matrix.hparams:
                if on and name not in valid and name not in cli_hparams:
                    raise UsageError(f"study {study.source}: {matrix.label}.hparams.{name}: {_unknown(name, valid, on)}")

    seen = set()
    for spec in runs:
        key = (spec.arch, spec.loss, spec.techniques, spec.dataset)
        if key in seen:
            continue
        seen.add(key)
        schema = schemas[key[:3]]
        owners = [host.architectures.get(spec.arch), host.losses.get(spec.loss),
                  *(host.techniques.get(t) for t in spec.techniques)]
        declared = {name: cls.name for cls in owners for name in cls.defaults}  # the last one wins, as merged
        for name, value in spec.hparams.items():
            if name not in schema:
                continue  # read by a plugin of another run of the study
            expected = schema[name].problem(value)
            if expected:
                if name in cli_hparams:
                    origin = f"--hparam {name}={_shown(value)}"
                elif any(name in m.hparams and m.produces(spec.variant, spec.dataset) for m in study.matrix_list()):
                    matrix = next(m for m in study.matrix_list()
                                  if name in m.hparams and m.produces(spec.variant, spec.dataset))
                    origin = f"study {study.source}: {matrix.label}.hparams.{name} = {value!r}"
                elif name in study.dataset_hparams.get(spec.dataset, {}):
                    origin = f"study {study.source}: hparams.{spec.dataset}.{name} = {value!r}"
                else:
                    origin = f"study {study.source}: hparams.{name} = {value!r}"
                default = schema[name].default
                whose = f" ({declared[name]}'s default is {default!r})" if name in declared else ""
                raise UsageError(f"{origin}: {name} must be {expected}{whose}")
