"""Moved to :mod:`ganbench.testing.architecture`; kept so that existing imports work."""

from ganbench.testing.architecture import *  # noqa: F401,F403
