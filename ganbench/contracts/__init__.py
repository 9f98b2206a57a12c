"""Moved to :mod:`ganbench.testing`, which holds the contracts of all six plugin kinds; kept so that
existing ``from ganbench.contracts import ...`` imports work."""

from ganbench.testing import ArchitectureContract, LossContract, TechniqueContract  # noqa: F401

__all__ = ["ArchitectureContract", "LossContract", "TechniqueContract"]
