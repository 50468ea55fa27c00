"""What a run is asked to do (:class:`JobSpec`) and what refuses it before it starts: the
rows it takes, where its output and state go, the API it may reach with which key.

Exceptions (each carries one line for the user; the command line maps them to exit codes):
    JobError                    the run cannot start: usage, input, config, state (exit 2)
    ├── OverBudget              the run's estimate is over --max-credits (exit 2)
    └── NotConfirmed            the user did not confirm the cost (exit 2)
    LockedError (journal)       another run holds the state file's or the output's lock (exit 4)
    OutputError                 the output sheet could not be written (the journal is intact)
    ApiRefusedError             ``validate --preflight``: the API refused or could not answer
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline import journal as j
from pipeline.argil.client import DEFAULT_BASE_URL, InsecureURLError, check_base_url
from pipeline.config import Config
from pipeline.mapping import RowPlan
from pipeline.run_types import RunOptions
from pipeline.runner import Sleep
from pipeline.sheets import Sheet, default_output_path
from pipeline.validation import ValidationReport

SANDBOX_TARGET = "sandbox"
SANDBOX_KEY = "sandbox-key"
# The sandbox has no rate limit to respect: a bulk tryout of thousands of rows takes seconds
# (5,000 rows in about 18 s), not the minutes a made-up limit would cost.
SANDBOX_RPM = 600_000.0


class JobError(Exception):
    """The run cannot start; nothing was sent."""


class OverBudget(JobError):
    """The estimate of what the run would send is over the budget; nothing was sent."""


class NotConfirmed(JobError):
    """The cost was shown and not confirmed; nothing was sent."""


class OutputError(Exception):
    """The output sheet could not be written; the journal still holds every row's state."""


class RunStopped(Exception):
    """The run stopped before its end (the API refused the key or the credits, the budget was
    reached, the API could not be reached): the output was written, and the rows not sent
    are left for the next run. ``frame`` is the output sheet (the Python API's)."""

    def __init__(self, message: str, frame: Any = None) -> None:
        super().__init__(message)
        self.frame = frame


class ApiRefusedError(Exception):
    """The API refused a check (bad key) or could not be reached; nothing was created."""


@dataclass
class JobSpec:
    sheet: Path | Sheet
    """The input file, or a sheet already read (the Python API's DataFrame), which then
    needs ``output`` and ``state``."""
    config: Path | Config
    output: Path | None = None
    # Replace a file at ``output`` that is not an output of argil-batch (refused otherwise).
    overwrite: bool = False
    sheet_name: str | None = None
    encoding: str | None = None
    state: Path | None = None
    sandbox: bool = False
    base_url: str | None = None
    # Kept out of repr: a spec printed in a log or a traceback must not show the key.
    api_key: str | None = field(default=None, repr=False)
    rpm: float | Literal["auto"] | None = None
    read_rpm: float | None = None
    concurrency: int | None = None
    rows: str | None = None
    max_credits: float | None = None  # default: the config's api.max_credits
    flush_interval: float = 5.0
    options: RunOptions = field(default_factory=RunOptions)
    # For tests and embedding: the waits and the clock of the runner and the client (so no
    # test sleeps through a backoff), and any other ArgilClient keyword (timeouts, attempts).
    sleep: Sleep | None = None
    clock: Callable[[], float] | None = None
    client_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    sheet: Sheet
    config: Config
    report: ValidationReport
    selected: list[RowPlan]
    output: Path
    state: Path


def parse_rows(text: str) -> Callable[[int], bool]:
    """``--rows 2-50,60,70-``: spreadsheet row numbers (the header is row 1)."""
    spans: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)?(-)?(\d+)?", part)
        if not part or match is None or (match[1] is None and match[3] is None):
            raise JobError(f"--rows {text!r}: use row numbers and ranges, e.g. 2-50,60,70-")
        low = int(match[1]) if match[1] else 2
        high = int(match[3]) if match[3] else (low if match[2] is None else 10**12)
        if low > high:
            raise JobError(f"--rows {text!r}: {low} comes after {high}")
        spans.append((low, high))
    return lambda row: any(low <= row <= high for low, high in spans)


def sandbox_output_path(sheet: Path) -> Path:
    """A sandbox run's default output: leads.csv -> leads.sandbox.argil.csv, never the real
    run's leads.argil.csv (its ids mean nothing to the real API)."""
    return default_output_path(sheet.with_name(f"{sheet.stem}.sandbox{sheet.suffix}"))


def state_path_for(output: Path, sandbox: bool) -> Path:
    # The sandbox keeps its own journal: its video ids mean nothing to the real API.
    return output.with_name(output.name + (".sandbox-state" if sandbox else ".state"))


def resolve_api(spec: JobSpec) -> tuple[str, str]:
    """(base_url, api_key) for a real run, refused before anything is sent."""
    return api_access(spec.base_url, spec.api_key)


def api_access(base_url: str | None, api_key: str | None = None) -> tuple[str, str]:
    """(base_url, api_key) from the arguments, else the environment; JobError when unusable."""
    key = api_key if api_key is not None else os.environ.get("ARGIL_API_KEY", "")
    key = key.strip()
    if not key:
        raise JobError(
            "no API key: set ARGIL_API_KEY (export ARGIL_API_KEY=...), "
            "or try the whole run locally with --sandbox"
        )
    if not key.isprintable() or not key.isascii():
        # A stray byte from a secrets file (a newline, a BOM) cannot go in a header; say so
        # here, before anything is sent, without quoting the key.
        raise JobError(
            "ARGIL_API_KEY holds characters that cannot be sent in a header (a newline or "
            "another control character?); check where the key comes from"
        )
    url = base_url or os.environ.get("ARGIL_BASE_URL") or DEFAULT_BASE_URL
    try:
        return check_base_url(url), key
    except InsecureURLError as exc:
        raise JobError(str(exc)) from None


def open_journal(state: Path, target: str | None) -> j.Journal:
    try:
        return j.Journal(state, target=target)
    except j.JournalError as exc:
        raise JobError(str(exc)) from None
