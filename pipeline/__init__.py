"""argil-batch: spreadsheet rows to Argil avatar videos, exactly once."""

from typing import Any


def __getattr__(name: str) -> Any:
    # Looked up when asked for: importlib.metadata takes a while to import, and `argil-batch`
    # imports this package before its own code can turn a Ctrl-C into a clean exit.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("argil-batch")
        except PackageNotFoundError:  # running from a source tree that was not installed
            return "0.0.0"
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
