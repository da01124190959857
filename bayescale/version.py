"""The installed version of bayescale (``0+unknown`` when run from a source tree).

Its own module so that the package's modules can record it without importing the package's
``__init__`` (which imports them).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("bayescale")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
