"""ganbench: a plugin-based benchmark harness for generative adversarial networks.

Plugins import the marker from here::

    from ganbench import hookimpl

    @hookimpl
    def ganbench_register_architectures(registry):
        registry.add(MyGAN)
"""

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "ganbench"  # marker, plugin-manager and entry-point group name
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["__version__", "hookimpl", "PROJECT_NAME"]
