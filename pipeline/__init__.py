"""argil-batch: spreadsheet rows to Argil avatar videos, exactly once."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("argil-batch")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
