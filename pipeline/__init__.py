"""argil-batch: spreadsheet rows to Argil avatar videos, exactly once.

From Python: :func:`validate` and :func:`run` take a sheet file or a pandas DataFrame (see
:mod:`pipeline.api`).
"""

from importlib.metadata import PackageNotFoundError, version

from pipeline.api import run, validate

try:
    __version__ = version("argil-batch")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["__version__", "run", "validate"]
