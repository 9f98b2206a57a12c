"""Every hook a ganbench plugin can implement.

A plugin is a module (or object) registered under the ``ganbench`` entry-point group whose functions
carry the ``@ganbench.hookimpl`` marker and are named like the specs below. Implementations may take
fewer arguments than the spec (pluggy's opt-in arguments), so specs can grow without breaking plugins.
A function named ``ganbench_*`` that matches no spec is an error (``check_pending``), so a misspelled
hook fails loudly when the plugin is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from ganbench import PROJECT_NAME

if TYPE_CHECKING:
    import click

    from ganbench.registry import Registry

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def ganbench_register_architectures(registry: Registry) -> None:
    """Add :class:`ganbench.api.Architecture` subclasses with ``registry.add(cls)``.

    :param registry: the architecture registry; ``add`` validates the name and refuses duplicates.
    """


@hookspec
def ganbench_register_losses(registry: Registry) -> None:
    """Add :class:`ganbench.api.Loss` subclasses with ``registry.add(cls)``.

    :param registry: the loss registry.
    """


@hookspec
def ganbench_register_techniques(registry: Registry) -> None:
    """Add :class:`ganbench.api.Technique` subclasses (composable training tricks) with ``registry.add(cls)``.

    :param registry: the technique registry.
    """


@hookspec
def ganbench_register_datasets(registry: Registry) -> None:
    """Add :class:`ganbench.api.Dataset` subclasses with ``registry.add(cls)``.

    :param registry: the dataset registry.
    """


@hookspec
def ganbench_register_metrics(registry: Registry) -> None:
    """Add :class:`ganbench.api.Metric` subclasses with ``registry.add(cls)``.

    :param registry: the metric registry.
    """


@hookspec
def ganbench_register_report_formats(registry: Registry) -> None:
    """Add :class:`ganbench.api.ReportFormat` subclasses (``ganbench report --format NAME``).

    :param registry: the report-format registry.
    """


@hookspec
def ganbench_register_tasks(registry: Registry) -> None:
    """Add :class:`ganbench.api.Task` subclasses (benchmark tasks: generation, translation, ...).

    :param registry: the task registry.
    """


@hookspec
def ganbench_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``ganbench`` command line with ``cli.add_command``.

    :param cli: the top-level click group.
    """


@hookspec
def ganbench_run_start(spec: dict[str, Any], run_dir: str) -> None:
    """Observe a run about to train (after its specification is stored). Cannot change anything: an
    exception is ignored (the first one of each plugin is logged) and the run goes on.

    :param spec: the run's full specification, as stored in ``spec.json``.
    :param run_dir: the run's directory.
    """


@hookspec
def ganbench_run_end(spec: dict[str, Any], result: dict[str, Any], run_dir: str) -> None:
    """Observe a finished run (completed, diverged or failed), e.g. to upload its record. Like
    ``ganbench_run_start``, an exception here changes nothing.

    :param spec: the run's full specification.
    :param result: the run's final record, as stored in ``result.json``.
    :param run_dir: the run's directory.
    """
