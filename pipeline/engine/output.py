"""The output sheet written during a run (every few seconds, at most a tenth of the run) and
at its end: the run's rows, and every other row as the journal knows it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from pipeline import journal as j
from pipeline.engine.files import Prepared
from pipeline.engine.results import NOT_RUN, RowResult, status_of
from pipeline.engine.state import RunState
from pipeline.errors import OutputError
from pipeline.gsheets import GoogleSheetOutput
from pipeline.mapping import RowPlan
from pipeline.sheets import OutputFile, Sheet, SheetError
from pipeline.validation import validate_rows

log = logging.getLogger(__name__)


class OutputWriter:
    """Writes the whole output sheet: the run's rows, and every other row as the journal
    knows it (rows outside ``--rows`` included).

    Snapshots are taken on the event loop (the run state changes results there) and written in a
    thread; a lock and a sequence number keep an older snapshot from replacing a newer one.
    """

    def __init__(self, job: Prepared, journal: j.Journal) -> None:
        self.job = job
        # A refresh that failed mid-run: the run stopped on it.
        self.error: str | None = None
        selected = {p.row for p in job.selected}
        others = [p for p in job.report.plans if p.row not in selected]
        records = journal.all() if others else {}
        self._others = {
            # Rows outside --rows say what the journal knows of them, in the words the run's
            # own rows use (a row left in flight is IN_DOUBT), and NOT_RUN when it knows none.
            p.row: _unselected(p, records.get(p.key)).columns()
            for p in others
        }
        # A workbook to hand back is loaded now, a Google Sheet's result headers written: one
        # that cannot be is refused before anything is sent, not at the last write.
        self._file: OutputFile | GoogleSheetOutput
        if job.google is not None:
            config, ref = job.settings.config, job.google.ref

            def keys_of(sheet: Sheet) -> list[str]:
                return [plan.key for plan in validate_rows(sheet, config, ref).plans]

            self._file = GoogleSheetOutput(job.google.client, job.google.tab, job.sheet, keys_of)
        else:
            assert job.output is not None
            self._file = OutputFile(job.sheet, job.output)
        self._file.load()
        self._lock = threading.Lock()
        self._written = -1
        self._seq = 0
        self.last_seconds = 0.0

    def snapshot(self, state: RunState) -> tuple[int, dict[int, dict[str, str]]]:
        self._seq += 1
        return self._seq, {**self._others, **state.output_columns()}

    def write(self, seq: int, columns: dict[int, dict[str, str]]) -> None:
        with self._lock:
            if seq <= self._written:
                return
            started = time.monotonic()
            try:
                self._file.write(columns)
            except SheetError as exc:
                if self.job.google is not None:
                    raise OutputError(
                        f"the results could not be written into {self.job.google.tab.label} "
                        f"({exc}); every row's result is kept in {self.job.state}: "
                        f"`argil-batch status {self.job.google.ref.url}` writes them"
                    ) from None
                raise OutputError(
                    f"{exc}; every row's state is kept in {self.job.state}: free space (or "
                    "choose a writable -o) and run again: it resumes where this run stopped"
                ) from None
            self._written = seq
            self.last_seconds = time.monotonic() - started

    @property
    def notes(self) -> list[str]:
        notes = list(self._file.notes)
        if not isinstance(self._file, GoogleSheetOutput) or self.job.google is None:
            return notes
        unplaced = self._file.unplaced
        if unplaced:
            rows = "1 row's result has" if unplaced == 1 else f"{unplaced} rows' results have"
            notes.append(
                f"{rows} no row in the sheet now (deleted, or its key cells edited): kept in "
                "the state file"
            )
        if self._file.unsettled:
            notes.append(
                "the sheet changed under each pass of the last write: "
                f"`argil-batch status {self.job.google.ref.url}` checks that every result is "
                "on its own row"
            )
        return notes

    def describe(self) -> str:
        return self._file.describe()

    async def every(self, seconds: float, state: RunState) -> None:
        written_changes = state.changes
        while True:
            # Rewriting a 100,000-row sheet takes seconds: spend at most a tenth of the run on
            # it, and none when no row changed since the last write.
            await asyncio.sleep(max(seconds, 9 * self.last_seconds))
            if state.changes == written_changes:
                continue
            written_changes = state.changes
            try:
                await asyncio.to_thread(self.write, *self.snapshot(state))
            except OutputError as exc:
                if self.job.google is not None:
                    # A quota, the network, a colleague's edit: the run goes on (the journal
                    # holds every result), and the next refresh, or the last, tries again.
                    log.warning("%s; trying again at the next refresh", exc)
                    written_changes = -1
                    continue
                # A disk that cannot take the output will not take the journal's next rows
                # either: stop sending now rather than after every row was made unseen.
                self.error = str(exc)
                state.stop("the output sheet could not be written")
                return


def _unselected(plan: RowPlan, record: j.Record | None) -> RowResult:
    result = RowResult(key=plan.key, status=NOT_RUN)
    if record is not None:
        result.video_id = record.video_id or ""
        result.status = status_of(record)
        result.video_url = record.video_url or ""
        result.preview_url = record.preview_url or ""
        result.updated_at = record.updated_at
        result.duration = record.duration
        result.credits, result.credits_exact = record.credits, record.credits_exact
        result.file = record.file or ""
    return result
