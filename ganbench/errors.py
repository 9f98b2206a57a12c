"""Errors and the exit codes of the `ganbench` command.

Exit codes (documented in the README):
  0  everything asked for ran and completed
  1  at least one run failed or diverged (the others still ran and were stored)
  2  usage error: an unknown name, a malformed option or study file, a broken plugin
  3  internal error (a bug in ganbench itself)
"""

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    RUNS_FAILED = 1
    USAGE_ERROR = 2
    INTERNAL_ERROR = 3


class GanbenchError(Exception):
    """Base class. Its message is one line meant for the user."""


class UsageError(GanbenchError):
    """The user asked for something that does not exist or is malformed (exit code 2)."""


class PluginError(UsageError):
    """A plugin is broken: bad hook, duplicate name, wrong type. Names the plugin and its distribution."""


class DataUnavailableError(UsageError):
    """A dataset is not on disk and may not be downloaded. The message says how to get it."""
