"""A typed registry per kind of plugin (architectures, losses, ...), filled through hooks.

Names are stored in results and leaderboards, so they are validated once, here: snake_case, unique,
and the class must subclass the kind's base. Errors name the plugin module that offered the class.
"""

from __future__ import annotations

import re
from typing import Generic, Iterator, TypeVar

from ganbench.errors import PluginError, UsageError

T = TypeVar("T")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
SINGULAR = {"architectures": "architecture", "losses": "loss", "techniques": "technique", "datasets": "dataset",
            "metrics": "metric", "report_formats": "report format", "tasks": "task"}


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry(Generic[T]):
    """Name -> class for one kind of plugin. ``kind`` is the plural word used in messages ("architectures")."""

    def __init__(self, kind: str, base: type[T]):
        self.kind = kind
        self.base = base
        self._items: dict[str, type[T]] = {}
        self._plugin_of: dict[str, str] = {}
        self.current_plugin: str = "?"  # set by the plugin manager while a plugin's hook runs
        self.not_loaded: str = ""        # why some installed plugins are missing (--only-plugin, ...), for messages

    def add(self, cls: type[T]) -> type[T]:
        """Register ``cls`` under ``cls.name``. Returns ``cls`` so it can be used as a decorator."""
        where = f"plugin {self.current_plugin!r}"
        if not isinstance(cls, type) or not issubclass(cls, self.base):
            raise PluginError(f"{where} registered {cls!r} as one of the {self.kind}, "
                              f"but it is not a subclass of {_qualname(self.base)}")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise PluginError(f"{where}: {_qualname(cls)}.name = {name!r} is not a valid name "
                              f"(lowercase snake_case matching {NAME_PATTERN.pattern})")
        if name in self._items and self._items[name] is not cls:
            raise PluginError(f"{where}: duplicate name {name!r} among the {self.kind}: "
                              f"{_qualname(cls)} and {_qualname(self._items[name])} "
                              f"(from plugin {self._plugin_of[name]!r})")
        self._items[name] = cls
        self._plugin_of[name] = self.current_plugin
        return cls

    def get(self, name: str) -> type[T]:
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(self.names()) or ("(none loaded)" if self.not_loaded else "(none installed)")
            hidden = f"; {self.not_loaded}" if self.not_loaded else ""
            raise UsageError(f"unknown {SINGULAR.get(self.kind, self.kind)} {name!r}; valid: {valid}{hidden}") from None

    def discard_plugin(self, plugin: str) -> None:
        """Forget everything ``plugin`` registered (it failed half-way through its hook)."""
        for name in [n for n, p in self._plugin_of.items() if p == plugin]:
            del self._items[name], self._plugin_of[name]

    def plugin_of(self, name: str) -> str:
        return self._plugin_of[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[type[T]]:
        return (self._items[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._items)
