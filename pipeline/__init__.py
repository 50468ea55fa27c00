"""argil-batch: spreadsheet rows to Argil avatar videos, exactly once.

From Python: :func:`validate` and :func:`run` take a sheet file or a pandas DataFrame (see
:mod:`pipeline.api`).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.api import run, validate

__all__ = ["__version__", "run", "validate"]


def __getattr__(name: str) -> Any:
    # Looked up when asked for: the library and importlib.metadata take a while to import,
    # and `argil-batch` imports this package before its own code can turn a Ctrl-C into a
    # clean exit.
    if name in ("run", "validate"):
        from pipeline import api

        return getattr(api, name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("argil-batch")
        except PackageNotFoundError:  # running from a source tree that was not installed
            return "0.0.0"
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
