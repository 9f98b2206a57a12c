"""Errors and the exit codes of the `ganbench` command.

Exit codes (documented in the README):
  0  everything asked for ran and completed
  1  at least one run failed or diverged (the others still ran and were stored)
  2  usage error: an unknown name, a malformed option or study file, a broken plugin
  3  internal error (a bug in ganbench itself)
  4  environment error: the machine cannot do what was asked (a read-only or full disk, no permission)
"""

import enum
import errno


class ExitCode(enum.IntEnum):
    OK = 0
    RUNS_FAILED = 1
    USAGE_ERROR = 2
    INTERNAL_ERROR = 3
    ENVIRONMENT_ERROR = 4


class GanbenchError(Exception):
    """Base class. Its message is one line meant for the user."""

    exit_code = ExitCode.USAGE_ERROR


class UsageError(GanbenchError):
    """The user asked for something that does not exist or is malformed (exit code 2)."""


class PluginError(UsageError):
    """A plugin is broken: bad hook, duplicate name, wrong type. Names the plugin and its distribution."""


class DataUnavailableError(UsageError):
    """A dataset is not on disk and may not be downloaded. The message says how to get it."""


class EnvironmentProblem(GanbenchError):
    """The request is well formed but this machine cannot carry it out: a read-only or full disk,
    missing permissions (exit code 4). Retrying elsewhere, or after freeing space, can succeed."""

    exit_code = ExitCode.ENVIRONMENT_ERROR


# errno values that describe the machine, not the request and not a bug in ganbench
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


def environment_problem(exc: OSError) -> EnvironmentProblem | None:
    """The one-line EnvironmentProblem an OSError stands for ("no space left on device: PATH"), or
    None when the error is not about the machine."""
    if exc.errno not in ENVIRONMENT_ERRNOS:
        return None
    what = (exc.strerror or str(exc)).lower()
    where = f": {exc.filename}" if exc.filename else ""
    return EnvironmentProblem(f"{what}{where}")
