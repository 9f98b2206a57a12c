"""Moved to :mod:`ganbench.testing.loss`; kept so that existing imports work."""

from ganbench.testing.loss import *  # noqa: F401,F403
