"""Contract tests shared by built-in and third-party plugins.

Subclass a contract in your plugin's tests and set the class attributes it asks for::

    from ganbench.contracts import ArchitectureContract

    class TestMyGAN(ArchitectureContract):
        architecture_name = "mygan"
"""
