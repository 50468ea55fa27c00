"""Every error argil-batch raises, under one root, and the exit code of each kind.

A caller of :func:`pipeline.run` or :func:`pipeline.validate` catches
:class:`ArgilBatchError` (or one of its kinds); the command line prints the message as one
line, ``Error: ...``, and exits with the error's ``exit_code``. Each kind says its code once,
here; the modules that raise define narrower kinds beneath these.

Exit codes (a contract, the same for the command line and the Python API's summary)::

    0    every row fine
    1    some rows failed or are invalid (the output was written)
    2    JobError: the run cannot start: input, config, state file, settings (nothing sent)
    3    RunStopped, OutputError, ApiRefusedError, ArgilError: the API refused the run, or
         the journal or the output could not be written, and it stopped
    4    LockedError: another run holds the state file or writes the output
    130  interrupted (nothing lost: the next run picks up where this one stopped)

The tree (kinds defined elsewhere in brackets)::

    ArgilBatchError
    ├── JobError                 the run cannot start; nothing was sent (exit 2)
    │   ├── [ConfigError]        pipeline.config: the config cannot be used
    │   ├── [SheetError]         pipeline.sheets: an input or output sheet cannot be used
    │   ├── [JournalError]       pipeline.journal: the state file cannot be used
    │   ├── OverBudget           the estimate is over the budget
    │   ├── NotConfirmed         the cost was shown and not confirmed
    │   └── [OtherBatch]         pipeline.engine: rows have videos in another batch
    ├── LockedError              another run holds a lock (exit 4)
    ├── RunStopped               the run stopped before its end (exit 3)
    ├── OutputError              the output sheet could not be written (exit 3)
    ├── [JournalWriteError]      pipeline.journal: a write to the state file failed (exit 3)
    ├── ApiRefusedError          a check the API refused or could not answer (exit 3)
    └── [ArgilError]             pipeline.argil: the API client's errors (exit 3)
"""

from __future__ import annotations

from typing import Any, ClassVar

EXIT_OK = 0
EXIT_ROWS_FAILED = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3
EXIT_LOCKED = 4
EXIT_INTERRUPTED = 130


class ArgilBatchError(Exception):
    """The root of every error of argil-batch; the message is one line for the user."""

    exit_code: ClassVar[int] = EXIT_USAGE


class JobError(ArgilBatchError):
    """The run cannot start; nothing was sent."""

    exit_code = EXIT_USAGE


class OverBudget(JobError):
    """The estimate of what the run would send is over the budget; nothing was sent."""


class NotConfirmed(JobError):
    """The cost was shown and not confirmed; nothing was sent."""


class LockedError(ArgilBatchError):
    """Another run holds a lock (the state file's, or the output sheet's); ``holder`` says
    who."""

    exit_code = EXIT_LOCKED

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class RunStopped(ArgilBatchError):
    """The run stopped before its end (the API refused the key or the credits, the budget was
    reached, the API could not be reached): the output was written, and the rows not sent
    are left for the next run. ``frame`` is the output sheet (the Python API's)."""

    exit_code = EXIT_STOPPED

    def __init__(self, message: str, frame: Any = None) -> None:
        super().__init__(message)
        self.frame = frame


class OutputError(ArgilBatchError):
    """The output sheet could not be written; the journal still holds every row's state."""

    exit_code = EXIT_STOPPED


class ApiRefusedError(ArgilBatchError):
    """The API refused a check (bad key) or could not be reached; nothing was created."""

    exit_code = EXIT_STOPPED
