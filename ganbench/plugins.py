"""The plugin host: how ganbench finds architectures, losses, techniques, datasets and metrics.

Writing a plugin
----------------
A plugin is any importable module that implements hooks from :mod:`ganbench.hookspecs`::

    # ganbench_mygan/__init__.py
    from ganbench import hookimpl
    from ganbench.api import Architecture

    class MyGAN(Architecture):
        name = "mygan"
        ...

    @hookimpl
    def ganbench_register_architectures(registry):
        registry.add(MyGAN)

and declares it in its ``pyproject.toml``::

    [project.entry-points.ganbench]
    mygan = "ganbench_mygan"

After ``pip install``, ``ganbench plugins`` lists it and ``ganbench run --arch mygan`` runs it. The
built-in variants in ``plugins/`` (importable as ``ganbench_plugins``) are declared the same way in
ganbench's own ``pyproject.toml`` and go through exactly the same loading path.

Choosing plugins
----------------
* ``GANBENCH_DISABLE_PLUGINS=a,b`` or ``ganbench --disable-plugin a`` blocks entry points by name.
* ``GANBENCH_LOAD_PLUGINS=a,b`` or ``ganbench --only-plugin a`` loads only those entry points.
* ``GANBENCH_TRACE_PLUGINS=1`` prints every hook call to stderr.

A plugin that fails to import, or raises in a registration hook, stops ``ganbench run`` with a line
naming it, its distribution and ``--disable-plugin NAME``. ``ganbench report`` and ``ganbench plugins``
load without it and list it as broken, so stored results stay readable.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import sys
from typing import Iterable

import pluggy

from ganbench import PROJECT_NAME, hookspecs
from ganbench.errors import PluginError, UsageError
from ganbench.registry import Registry

ENV_DISABLE = "GANBENCH_DISABLE_PLUGINS"
ENV_ONLY = "GANBENCH_LOAD_PLUGINS"
ENV_TRACE = "GANBENCH_TRACE_PLUGINS"

# kind -> (hook name, base-class attribute in ganbench.api)
KINDS = {
    "architectures": ("ganbench_register_architectures", "Architecture"),
    "losses": ("ganbench_register_losses", "Loss"),
    "techniques": ("ganbench_register_techniques", "Technique"),
    "datasets": ("ganbench_register_datasets", "Dataset"),
    "metrics": ("ganbench_register_metrics", "Metric"),
    "report_formats": ("ganbench_register_report_formats", "ReportFormat"),
    "tasks": ("ganbench_register_tasks", "Task"),
}


@dataclasses.dataclass
class PluginInfo:
    name: str            # entry-point name
    module: str          # what the entry point points at
    distribution: str    # the installed distribution that declares it
    version: str
    provides: dict[str, list[str]]
    broken: str = ""     # why it could not be loaded (``load(strict=False)`` only); empty when it works


class Host:
    """A loaded plugin manager plus the registries its plugins filled. Build one with :func:`load`."""

    def __init__(self, pm: pluggy.PluginManager, registries: dict[str, Registry],
                 dists: dict[str, tuple[str, str, str]], broken: dict[str, tuple[str, str, str, str]] | None = None):
        self.pm = pm
        self.registries = registries
        self._dists = dists  # plugin name -> (module, distribution, version)
        self.broken = dict(broken or {})  # plugin name -> (module, distribution, version, problem), left out

    @property
    def architectures(self) -> Registry:
        return self.registries["architectures"]

    @property
    def losses(self) -> Registry:
        return self.registries["losses"]

    @property
    def techniques(self) -> Registry:
        return self.registries["techniques"]

    @property
    def datasets(self) -> Registry:
        return self.registries["datasets"]

    @property
    def metrics(self) -> Registry:
        return self.registries["metrics"]

    @property
    def report_formats(self) -> Registry:
        return self.registries["report_formats"]

    @property
    def tasks(self) -> Registry:
        return self.registries["tasks"]

    def plugins(self) -> list[PluginInfo]:
        out = []
        for name in sorted(self._dists):
            module, dist, version = self._dists[name]
            provides = {kind: [n for n in reg.names() if reg.plugin_of(n) == name]
                        for kind, reg in self.registries.items()}
            out.append(PluginInfo(name, module, dist, version, {k: v for k, v in provides.items() if v}))
        out += [PluginInfo(name, module, dist, version, {}, problem)
                for name, (module, dist, version, problem) in self.broken.items()]
        return sorted(out, key=lambda p: p.name)

    def versions(self) -> dict[str, str]:
        """``{distribution: version}`` of every distribution that contributed a plugin."""
        return {dist: version for _, dist, version in self._dists.values()}

    def plugin_version(self, plugin_name: str) -> str:
        _, dist, version = self._dists[plugin_name]
        return f"{dist}=={version}"

    def distributions_of(self, **named: str | Iterable[str]) -> dict[str, str]:
        """``{distribution: version}`` of the distributions that provide the named plugins, e.g.
        ``distributions_of(architectures="mlp", losses="hinge", metrics=["fid_lenet"])``: part of a
        run's identity, so that a plugin's new release trains its runs again."""
        out = {}
        for kind, names in named.items():
            registry = self.registries[kind]
            for name in [names] if isinstance(names, str) else names:
                _, dist, version = self._dists.get(registry.plugin_of(name), ("?", "?", "?"))
                out[dist] = version
        return dict(sorted(out.items()))


def _split_env(var: str) -> set[str]:
    return {p.strip() for p in os.environ.get(var, "").split(",") if p.strip()}


def _entry_points() -> list[tuple[importlib.metadata.EntryPoint, str, str]]:
    """Every ``ganbench`` entry point of every installed distribution, with the distribution's name and
    version. A distribution seen twice on the path (an editable install's metadata beside a checkout's
    ``*.egg-info``) counts once; one name claimed by two distributions is kept twice, for :func:`load`
    to refuse. Only distributions with a ``ganbench`` entry point have their metadata parsed, once:
    parsing every installed distribution's METADATA on every access cost ~1 s a load."""
    found, seen = [], set()
    for dist in importlib.metadata.distributions():
        ours = [ep for ep in dist.entry_points if ep.group == PROJECT_NAME]
        if not ours:
            continue
        metadata = dist.metadata
        name, version = metadata["Name"], metadata["Version"]
        for ep in ours:
            if (name, ep.name) not in seen:
                seen.add((name, ep.name))
                found.append((ep, name, version))
    return found


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def load(disable: Iterable[str] = (), only: Iterable[str] = (), extra: Iterable[tuple[str, object]] = (),
         strict: bool = True) -> Host:
    """Build a fresh plugin host: specs, entry points (minus blocked ones), validation, registries.

    :param disable: entry-point names to block (added to ``$GANBENCH_DISABLE_PLUGINS``).
    :param only: if non-empty, load only these entry points (added to ``$GANBENCH_LOAD_PLUGINS``).
    :param extra: ``(name, plugin)`` pairs registered after the entry points (tests, notebooks).
    :param strict: a plugin that fails to import or raises in a registration hook raises PluginError
        (a sweep must not run with a plugin silently missing). ``False`` leaves it out and records it
        in ``Host.broken``, for commands that only read stored results.
    """
    from ganbench import api

    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if os.environ.get(ENV_TRACE):
        pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
        pm.enable_tracing()
    disabled = set(disable) | _split_env(ENV_DISABLE)
    allowed = set(only) | _split_env(ENV_ONLY)
    eps = _entry_points()
    known = {ep.name for ep, _, _ in eps}
    for name in (disabled | allowed) - known:
        raise UsageError(f"no plugin named {name!r} to block or allow; installed: {', '.join(sorted(known))}")
    for name in sorted(disabled & allowed):
        raise UsageError(f"plugin {name!r} is both disabled (--disable-plugin, ${ENV_DISABLE}) and allowed "
                         f"(--only-plugin, ${ENV_ONLY}); give it to one of them")

    dists: dict[str, tuple[str, str, str]] = {}
    wheres: dict[str, str] = {}
    broken: dict[str, tuple[str, str, str, str]] = {}

    def give_up(name: str, problem: str, exc: Exception) -> None:
        if strict:
            raise PluginError(f"{problem}; to run without it: --disable-plugin {name}") from exc
        module, dist, version = dists.pop(name, ("?", "?", "?"))
        broken[name] = (module, dist, version, problem)
    claims: dict[str, list[str]] = {}
    for ep, dist_name, dist_version in eps:
        claims.setdefault(ep.name, []).append(f"{dist_name} {dist_version} ({ep.value})")
    for ep, dist_name, dist_version in eps:
        if ep.name in disabled or (allowed and ep.name not in allowed):
            pm.set_blocked(ep.name)
            continue
        where = f"plugin {ep.name!r} ({ep.value}) from distribution {dist_name} {dist_version}"
        if len(claims[ep.name]) > 1:
            if ep.name not in broken:  # neither is loaded: which one a run used would be an accident
                dists[ep.name] = (ep.value, dist_name, dist_version)
                give_up(ep.name, f"entry-point name {ep.name!r} is claimed by {' and by '.join(claims[ep.name])}; "
                        f"one distribution must rename it under [project.entry-points.ganbench]",
                        PluginError(ep.name))
            continue
        dists[ep.name], wheres[ep.name] = (ep.value, dist_name, dist_version), where
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must name itself, not crash with a traceback
            give_up(ep.name, f"{where} failed to import: {_one_line(exc)}", exc)
            continue
        _register(pm, plugin, ep.name, where)
    for name, plugin in extra:
        _register(pm, plugin, name, f"plugin {name!r}")
        dists[name] = (getattr(plugin, "__name__", repr(plugin)), "(not installed)", "0")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or "?"
        module, dist, version = dists.get(name, ("?", "?", "?"))
        raise PluginError(f"plugin {name!r} ({module}) from distribution {dist} {version}: {exc}") from exc

    registries = {}
    for kind, (hook_name, base_name) in KINDS.items():
        registry = Registry(kind, getattr(api, base_name))
        # One plugin at a time, so that a bad registration names the plugin that made it.
        implementers = {impl.plugin_name: impl.plugin for impl in getattr(pm.hook, hook_name).get_hookimpls()}
        for name, plugin in sorted(implementers.items()):
            registry.current_plugin = name
            try:
                pm.subset_hook_caller(hook_name, [p for p in pm.get_plugins() if p is not plugin])(registry=registry)
            except Exception as exc:  # the plugin's own code raised: name it, never a bare traceback
                where = wheres.get(name, f"plugin {name!r}")
                # the registry's own message names the plugin; the full label adds its distribution
                if isinstance(exc, PluginError):
                    problem = str(exc).replace(f"plugin {name!r}", where, 1)
                    for other, label in wheres.items():  # a duplicate name: the other claimant, in full
                        problem = problem.replace(f"(from plugin {other!r})", f"(from {label})")
                else:
                    problem = f"{where} raised in {hook_name}: {_one_line(exc)}"
                give_up(name, problem, exc)
                # what it registered before failing goes too: a half-registered plugin is not loaded
                for done in [*registries.values(), registry]:
                    done.discard_plugin(name)
                pm.unregister(name=name)
        registry.current_plugin = "?"
        registries[kind] = registry
    notes = []
    if allowed:
        notes.append(f"plugins other than {', '.join(sorted(allowed))} are not loaded (--only-plugin, ${ENV_ONLY})")
    if disabled:
        notes.append(f"disabled: {', '.join(sorted(disabled))} (--disable-plugin, ${ENV_DISABLE})")
    if broken:
        notes.append(f"broken: {', '.join(sorted(broken))} (see `ganbench plugins`)")
    for registry in registries.values():
        registry.not_loaded = "; ".join(notes)
    return Host(pm, registries, dists, broken)


def _register(pm: pluggy.PluginManager, plugin: object, name: str, where: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"{where} is invalid: {exc}") from exc
