"""The version of bayescale, in one place: hatchling reads it from here for the package.

A literal rather than ``importlib.metadata.version``, which scans the installed distributions
(35-80 ms at every command's start). Its own module so that the package's modules can record
it without importing the package's ``__init__`` (which imports them).
"""

__version__ = "0.2.0.dev0"
