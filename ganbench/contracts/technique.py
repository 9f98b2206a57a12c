"""Moved to :mod:`ganbench.testing.technique`; kept so that existing imports work."""

from ganbench.testing.technique import *  # noqa: F401,F403
