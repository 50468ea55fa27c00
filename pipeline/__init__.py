"""argil-batch: spreadsheet rows to Argil avatar videos, exactly once.

From Python: :func:`validate` and :func:`run` take a sheet file or a pandas DataFrame (see
:mod:`pipeline.api`).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.api import run, validate
    from pipeline.config import ConfigError
    from pipeline.errors import (
        ArgilBatchError,
        JobError,
        LockedError,
        NotConfirmed,
        OutputError,
        OverBudget,
        RunStopped,
    )
    from pipeline.sheets import SheetError

__all__ = [
    "ArgilBatchError",
    "ConfigError",
    "JobError",
    "LockedError",
    "NotConfirmed",
    "OutputError",
    "OverBudget",
    "RunStopped",
    "SheetError",
    "__version__",
    "run",
    "validate",
]
# The exceptions a caller of run() and validate() may catch (all under ArgilBatchError), by
# the module that defines them.
_ERRORS = {
    "ArgilBatchError": "pipeline.errors",
    "JobError": "pipeline.errors",
    "LockedError": "pipeline.errors",
    "NotConfirmed": "pipeline.errors",
    "OutputError": "pipeline.errors",
    "OverBudget": "pipeline.errors",
    "RunStopped": "pipeline.errors",
    "ConfigError": "pipeline.config",
    "SheetError": "pipeline.sheets",
}


def __getattr__(name: str) -> Any:
    # Looked up when asked for: the library and importlib.metadata take a while to import,
    # and `argil-batch` imports this package before its own code can turn a Ctrl-C into a
    # clean exit.
    if name in ("run", "validate"):
        from pipeline import api

        return getattr(api, name)
    if name in _ERRORS:
        import importlib

        return getattr(importlib.import_module(_ERRORS[name]), name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("argil-batch")
        except PackageNotFoundError:  # running from a source tree that was not installed
            return "0.0.0"
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
