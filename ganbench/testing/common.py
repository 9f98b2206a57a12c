"""What every contract shares: finding the plugin under test, a host with it loaded, messages.

One naming convention for all seven kinds::

    class TestMyLoss(LossContract):
        plugin = MyLoss                 # the class itself: nothing needs to be installed
        hparams_override = {"k": 1}     # optional: merged over the defaults, to keep the test small

or, for a plugin that is installed (registered under an entry point of group ``ganbench``)::

    class TestMyLoss(LossContract):
        plugin_name = "my_loss"         # its registered name
        entry_point = "my_package"      # optional: load only this entry point (None: all installed)

The older per-kind spellings (``architecture_name``, ``loss_name``, ``technique_name``) still work as
``plugin_name``; for losses and techniques they also default ``entry_point`` to the same name, as before.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, ClassVar, Iterable, Mapping

from ganbench import api, hookimpl

#: The registry of each kind, as ``host.<registry>`` names it, and its base class.
KINDS: dict[str, type[api.Plugin]] = {
    "architectures": api.Architecture, "losses": api.Loss, "techniques": api.Technique,
    "datasets": api.Dataset, "metrics": api.Metric, "report_formats": api.ReportFormat, "tasks": api.Task,
}

_installed_hosts: dict[str | None, Any] = {}


def installed_host(entry_point: str | None = None):
    """The real plugin host over installed entry points, loaded once per process (per filter)."""
    if entry_point not in _installed_hosts:
        from ganbench import plugins
        _installed_hosts[entry_point] = plugins.load(only=[entry_point] if entry_point else ())
    return _installed_hosts[entry_point]


class Registrar:
    """A pluggy plugin object that registers the given classes, each in the registry of its kind: how
    the kit loads a plugin without installing it (the same registration hooks a package implements)."""

    def __init__(self, classes: Iterable[type]):
        self.classes = tuple(classes)
        unknown = [c for c in self.classes if not any(isinstance(c, type) and issubclass(c, b) for b in KINDS.values())]
        if unknown:
            raise TypeError(f"expected subclasses of the ganbench.api base classes, got {unknown!r}")

    def _add(self, registry, base):
        for cls in self.classes:
            if issubclass(cls, base):
                registry.add(cls)


def _registration_hook(registry_name: str, base: type[api.Plugin]):
    """``ganbench_register_<registry_name>(registry)`` for :class:`Registrar`: registers its classes of ``base``."""
    def register(self, registry):
        self._add(registry, base)
    register.__name__ = register.__qualname__ = f"ganbench_register_{registry_name}"
    register.__doc__ = f"Register the given {base.__name__} classes."
    return hookimpl(register)


# One registration hook per kind, from the same table the class checks against: a kind added to
# KINDS is registered by the kit without another edit.
for _registry_name, _base in KINDS.items():
    setattr(Registrar, f"ganbench_register_{_registry_name}", _registration_hook(_registry_name, _base))


def make_host(*plugins: object, name: str = "under_test"):
    """A plugin host with ``plugins`` loaded and no installed entry point (built-ins included) loaded.

    Each of ``plugins`` is a plugin class (registered in the registry of its kind) or a module/object
    with ``@hookimpl`` functions, as an entry point would name it.
    """
    from ganbench import plugins as host_module
    classes = [p for p in plugins if isinstance(p, type)]
    objects = [p for p in plugins if not isinstance(p, type)]
    extra = [(name if i == 0 else f"{name}_{i}", obj) for i, obj in enumerate(objects)]
    if classes:
        extra.append((f"{name}_classes", Registrar(classes)))
    installed = sorted({ep.name for ep, _, _ in host_module._entry_points()})
    return host_module.load(disable=installed, extra=extra)


def expect(condition: Any, expected: str, got: Any = None, who: str = "") -> None:
    """``assert`` with a message that says what was expected and what came."""
    if not condition:
        prefix = f"{who}: " if who else ""
        raise AssertionError(f"{prefix}expected {expected}" + ("" if got is None else f", got {got!r}"))


class PluginContract:
    """Base of the seven contracts: resolves the plugin under test and checks what every kind shares."""

    kind: ClassVar[str]                         # registry name, e.g. "losses"
    legacy_name_attr: ClassVar[str] = ""        # e.g. "loss_name"
    legacy_entry_point: ClassVar[bool] = False  # the legacy name also names the entry point

    plugin: ClassVar[type | None] = None
    plugin_name: ClassVar[str | None] = None
    entry_point: ClassVar[str | None] = None
    hparams_override: ClassVar[Mapping[str, Any]] = {}
    requires_paper: ClassVar[bool] = True  # variants cite their paper; datasets and formats may not have one

    @classmethod
    def _legacy_name(cls) -> str | None:
        return getattr(cls, cls.legacy_name_attr, None) if cls.legacy_name_attr else None

    @classmethod
    def name_under_test(cls) -> str:
        if cls.plugin is not None:
            return getattr(cls.plugin, "name", cls.plugin.__name__)
        name = cls.plugin_name or cls._legacy_name()
        if not name:
            raise TypeError(f"{cls.__name__}: set `plugin = YourClass` (or `plugin_name` for an installed plugin)")
        return name

    @classmethod
    def plugin_host(cls):
        """The host the plugin is looked up in: a fresh one with ``plugin`` loaded, else the installed one."""
        if cls.plugin is not None:
            if "_kit_host" not in cls.__dict__:  # per contract class, not inherited by subclasses
                cls._kit_host = make_host(cls.plugin)
            return cls._kit_host
        entry_point = cls.entry_point
        if entry_point is None and cls.legacy_entry_point and not cls.plugin_name:
            entry_point = cls._legacy_name()
        return installed_host(entry_point)

    @classmethod
    def plugin_class(cls) -> type:
        if cls.plugin is not None:
            return cls.plugin
        return getattr(cls.plugin_host(), cls.kind).get(cls.name_under_test())

    @classmethod
    def plugin_hparams(cls) -> dict[str, Any]:
        """The plugin's defaults, then ``hparams_override``."""
        return {**dict(cls.plugin_class().defaults), **dict(cls.hparams_override)}

    # -- tests every kind shares ------------------------------------------------------------------
    def test_registered_through_the_plugin_host(self):
        cls = self.plugin_class()
        base = KINDS[self.kind]
        expect(isinstance(cls, type) and issubclass(cls, base), f"a subclass of ganbench.api.{base.__name__}", cls)
        registry = getattr(self.plugin_host(), self.kind)
        name = self.name_under_test()
        expect(name in registry, f"{name!r} among the registered {self.kind}", registry.names())
        expect(registry.get(name) is cls, f"{name!r} to be registered as {cls.__qualname__}", registry.get(name))
        expect(cls.name == name, f"{cls.__qualname__}.name == {name!r}", cls.name)

    def test_defaults_are_json_values(self):
        import json
        defaults = dict(self.plugin_class().defaults)
        expect(all(isinstance(k, str) for k in defaults), "string keys in `defaults`", list(defaults))
        # Defaults are merged into a run's hyperparameters and stored with its results as JSON.
        expect(json.loads(json.dumps(defaults)) == defaults, "`defaults` to survive a JSON round trip", defaults)

    def test_documented_and_cited(self):
        import re
        cls = self.plugin_class()
        summary = cls.describe()
        expect(summary and "placeholder" not in summary.lower(),
               "the class docstring's first line to describe the plugin (not the template's placeholder)", summary)
        if not self.requires_paper and not cls.paper.strip():
            return
        expect(cls.paper.strip() and "placeholder" not in cls.paper.lower(),
               "`paper` to cite the source (authors, year, title)", cls.paper)
        expect(re.search(r"\b(19|20)\d\d\b", cls.paper), "a year in the `paper` citation", cls.paper)


def invoke_cli(capsys, *args) -> tuple[int, str, str]:
    """``ganbench ARGS`` in this test's process: ``(exit code, stdout, stderr)``, captured through
    pytest's ``capsys`` fixture (no subprocess, so a plugin under test loaded here is seen)."""
    import pytest

    from ganbench import cli
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return int(stopped.value.code or 0), out.out, out.err


@contextlib.contextmanager
def stopped_after_checkpoint(monkeypatch, when: Callable[[Any], bool] = lambda run: True):
    """Inside the block a run stops with ``KeyboardInterrupt`` right after writing a checkpoint for which
    ``when(run)`` holds (``run`` is the runner's run: ``run.trainer.steps_done``, ...), as a kill
    would stop it there. Yields the list of the steps it stopped at; saving is plain again after."""
    from ganbench import runner
    save = runner._Run.save_checkpoint
    stopped: list[int] = []

    def save_then_stop(self):
        save(self)
        if when(self):
            stopped.append(self.trainer.steps_done)
            raise KeyboardInterrupt

    monkeypatch.setattr(runner._Run, "save_checkpoint", save_then_stop)
    try:
        yield stopped
    finally:
        monkeypatch.setattr(runner._Run, "save_checkpoint", save)


def run_stopped_and_resumed(args, tmp_path, monkeypatch, stop_at_step: int, obj=None) -> tuple[dict, dict]:
    """``ganbench run ARGS`` (one run) twice: through, under ``tmp_path/whole``, and stopped after its
    checkpoint at step ``stop_at_step`` then run again, under ``tmp_path/stopped``. Returns both
    ``result.json`` records, ``(whole, resumed)``, for the caller to compare; ``obj``: click's context
    object (``{"host": ...}`` for a plugin host of the test's own)."""
    import json

    from click.testing import CliRunner

    from ganbench import cli

    def invoke(where: str) -> dict:
        out = CliRunner().invoke(cli.cli, [*args, "--results-dir", str(tmp_path / where)], obj=obj)
        assert out.exit_code == 0, out.output
        (run_dir,) = (tmp_path / where / "runs").iterdir()
        return json.loads((run_dir / "result.json").read_text())

    whole = invoke("whole")
    with stopped_after_checkpoint(monkeypatch, lambda run: run.trainer.steps_done == stop_at_step) as stopped:
        out = CliRunner().invoke(cli.cli, [*args, "--results-dir", str(tmp_path / "stopped")], obj=obj)
    assert out.exit_code != 0 and stopped == [stop_at_step], (out.output, stopped)
    return whole, invoke("stopped")


def through_a_checkpoint(state: dict) -> dict:
    """``state`` saved and read back the way a run's checkpoint is (``torch.load(weights_only=True)``)."""
    import io

    import torch
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)
