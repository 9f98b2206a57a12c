"""Contract tests shared by built-in and third-party plugins.

Subclass a contract in your plugin's tests and set the class attribute it asks for::

    from ganbench.contracts import ArchitectureContract

    class TestMyGAN(ArchitectureContract):
        architecture_name = "mygan"
"""

from ganbench.contracts.architecture import ArchitectureContract
from ganbench.contracts.loss import LossContract
from ganbench.contracts.technique import TechniqueContract

__all__ = ["ArchitectureContract", "LossContract", "TechniqueContract"]
