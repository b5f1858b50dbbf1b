"""seabox: the Linux container stack, layer by layer, in Python.

Each subpackage is one layer (see README.md and ../shared/DESIGN.md); a layer imports
only the layers below it, so each can be run and tested on its own.
"""

__version__ = "0.1.0"
