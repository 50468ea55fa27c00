"""A run's files, checked before the first request: the sheet read and validated, the output
path proven ours to write, the output's and the state file's folders writable, and the run's
locks held. A run refused before it sends anything leaves the folders as it found them."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline import journal as j
from pipeline.engine.sample import choose_sample
from pipeline.errors import JobError, LockedError
from pipeline.gsheets import GoogleSheet, GoogleSheetRef, google_state_path, read_google_sheet
from pipeline.mapping import RowPlan
from pipeline.settings import Settings, parse_rows, state_path_for
from pipeline.sheets import Sheet, check_output_fits, output_notes, read_sheet
from pipeline.sheets.output import has_result_columns
from pipeline.validation import ValidationReport, validate_rows


@dataclass
class Prepared:
    """A run ready to start: its settings, the sheet read and every row mapped, and the rows
    selected (``--rows``)."""

    settings: Settings
    sheet: Sheet
    report: ValidationReport
    selected: list[RowPlan]
    # The Google Sheet the results go back into (None: an output file).
    google: GoogleSheet | None = None
    # --sample: the rows chosen, and why each.
    sample: dict[int, list[str]] | None = None

    @property
    def output(self) -> Path | None:
        return self.settings.output

    @property
    def state(self) -> Path:
        return self.settings.state

    @property
    def output_mark(self) -> Path:
        """What the output's lock is taken on: the output file, or for a Google Sheet a name
        in the state folder for its tab (two runs writing one tab are one too many, whatever
        their state files)."""
        if self.output is not None:
            return self.output
        assert self.google is not None
        tab = self.google.tab
        state = google_state_path(tab.ref, tab.gid, self.settings.sandbox)
        return state.with_name(state.name + ".sheet")


def prepare(settings: Settings) -> Prepared:
    """Read and map the sheet; refuse now what would fail at the end (an output the sheet
    cannot be written as, an output path that is not ours, ``--rows`` selecting nothing)."""
    config = settings.config
    google = None
    if isinstance(settings.sheet, GoogleSheetRef):
        sheet, google = read_google(settings)
        if not settings.state_given:
            state = google_state_path(google.ref, google.tab.gid, settings.sandbox)
            settings = replace(settings, state=state)
    elif isinstance(settings.sheet, Sheet):
        sheet = settings.sheet
    else:
        sheet = read_sheet(
            settings.sheet,
            sheet=settings.sheet_name,
            encoding=settings.encoding,
            header_row=config.input.header_row,
        )
    report = validate_rows(sheet, config, google.tab.ref if google else None)
    output = settings.output
    if output is not None:
        # Refused now, not at the final write after every video was made.
        check_output_fits(sheet, output)
        sheet.notes.extend(output_notes(sheet, output))
        if output.resolve() == sheet.path.resolve():
            raise JobError(f"-o {output} is the input sheet; the input is never modified")
        check_output_ours(
            output, settings.state, sandbox=settings.sandbox, overwrite=settings.overwrite
        )
    selected = report.plans
    if settings.rows:
        wanted = parse_rows(settings.rows)
        selected = [p for p in report.plans if wanted(p.row)]
        if report.plans and not selected:
            first, last = report.plans[0].row, report.plans[-1].row
            where = google.tab.label if google else sheet.path
            raise JobError(
                f"--rows {settings.rows} selects no data row: {where}'s data rows are "
                f"{first} to {last} (row {sheet.header_row} is the header)"
            )
    prepared = Prepared(settings, sheet, report, selected, google)
    if settings.sample is not None:
        chosen, reasons = choose_sample(selected, read_records(prepared.state), settings.sample)
        prepared.selected = chosen
        prepared.sample = reasons
    return prepared


def read_input(
    source: Path | GoogleSheetRef,
    *,
    sheet_name: str | None,
    config_sheet: str | None,
    encoding: str | None = None,
    header_row: int | None = None,
    sandbox: bool = False,
) -> tuple[Sheet, GoogleSheetRef | None]:
    """A sheet read to be checked (``validate``, ``init``), and for a Google Sheet its tab
    (which names its batch). The tab or workbook sheet: ``sheet_name`` (``--sheet``), else a
    URL's gid, else ``config_sheet`` (``input.sheet``)."""
    if isinstance(source, GoogleSheetRef):
        name = sheet_name or (config_sheet if source.gid is None else None)
        sheet, google = read_google_sheet(
            source, sandbox=sandbox, sheet_name=name, header_row=header_row
        )
        google.client.close()
        return sheet, google.ref
    sheet = read_sheet(
        source, sheet=sheet_name or config_sheet, encoding=encoding, header_row=header_row
    )
    return sheet, None


def read_google(settings: Settings) -> tuple[Sheet, GoogleSheet]:
    """The Google Sheet's tab: the one ``--sheet`` names, else the URL's (its gid), else the
    one ``input.sheet`` names, else the first."""
    ref = settings.sheet
    assert isinstance(ref, GoogleSheetRef)
    name = settings.sheet_flag
    if name is None and ref.gid is None:
        name = settings.config.input.sheet
    return read_google_sheet(
        ref,
        sandbox=settings.sandbox,
        sheet_name=name,
        header_row=settings.config.input.header_row,
        sleep=settings.sheets_sleep,
    )


def check_output_ours(output: Path, state: Path, *, sandbox: bool, overwrite: bool) -> None:
    """JobError unless ``output`` may be written: ``overwrite`` says to replace whatever is
    there, or no file has that name (or an empty one), or the file is an output of
    argil-batch (the run's state file records writing it, or, that record lost, its header
    has the result columns). A sandbox run never writes a real run's output: one with its
    state beside it, or one only its header proves ours (its state may be anywhere) unless
    named as a sandbox's."""
    refused_for_sandbox = JobError(
        f"-o {output} exists and is not a sandbox run's output (a real run's, perhaps, "
        "whose state is elsewhere); a sandbox run writes only its own: drop -o, or choose "
        "another file"
    )
    if sandbox and state_path_for(output, False).exists():
        raise refused_for_sandbox
    if output.is_dir():
        raise JobError(f"{output} is a folder; give a file name for the output")
    if overwrite:
        return
    if not output.exists() or output.stat().st_size == 0:
        return  # nothing there to lose
    if j.recorded_output(state) == str(output.resolve()):
        return
    if has_result_columns(output):
        # Without its journal's record, only a sandbox's name or state proves it a sandbox's.
        sandbox_own = ".sandbox.argil" in output.name or state_path_for(output, True).exists()
        if sandbox and not sandbox_own:
            raise refused_for_sandbox
        return
    raise JobError(
        f"{output} exists and is not an output of argil-batch; choose another -o, "
        "or pass --overwrite to replace it"
    )


def open_journal(state: Path, target: str | None) -> j.Journal:
    return j.Journal(state, target=target)


def read_records(state: Path) -> dict[str, j.Record]:
    """The journal's records, without writing or locking anything (a dry run's)."""
    if not state.exists():
        return {}
    journal = open_journal(state, None)
    try:
        return journal.all()
    finally:
        journal.close()


@contextlib.contextmanager
def run_files(job: Prepared, *, status: bool = False) -> Iterator[None]:
    """The folders of the output and the state made, and the run's locks held: its state
    file's and its output sheet's. A run refused before it sends anything (a lock held, a
    state file of another API, over budget, not confirmed) leaves the folders as it found
    them: no empty state file or lock file to wonder about."""
    made = _absent_files(job)
    with contextlib.ExitStack() as stack:
        try:
            if job.output is not None:
                _check_writable(job.output.parent, "output sheet")
            else:
                _check_writable(job.output_mark.parent, "state folder")
            _check_writable(job.state.parent, "state file")
            stack.enter_context(_locks(job, status))
            yield
        except (JobError, LockedError):
            # Under the locks still: once they are let go, these files may be another run's.
            _remove(made)
            raise


def _check_writable(folder: Path, what: str) -> None:
    """The folder exists (made if need be, as `-o out/leads.argil.xlsx` in a cron line asks)
    and takes a file."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".argil-check-"):
            pass
    except OSError as exc:
        raise JobError(
            f"cannot write the {what} in {folder} ({exc.strerror or exc}); "
            "choose a writable place with -o or --state"
        ) from None


def _absent_files(job: Prepared) -> list[Path]:
    """The files and folders a run may make before it sends, that do not exist yet."""
    state = j.real_path(job.state)
    # Not the output: the run may have written rows it found on the API into it, and anything
    # at that path now could be someone else's.
    files = [j.lock_path(job.state), j.output_lock_path(job.output_mark)]
    if not state.exists():
        # Its log too, which SQLite leaves only while another connection has the file open:
        # an older journal's log is never touched, it may hold commits not yet in the file.
        files += [state, *(state.with_name(state.name + end) for end in ("-wal", "-shm"))]
    if job.settings.sandbox:
        files.append(j.real_path(job.settings.sandbox_store))
    folders = [j.real_path(job.output_mark.parent), j.real_path(job.state.parent)]
    for folder in list(folders):
        folders += folder.parents
    absent = [path for path in dict.fromkeys(files + folders) if not path.exists()]
    # Deepest first, files before their folders.
    return sorted(absent, key=lambda path: (path in folders, -len(path.parts)))


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()  # only if empty: nothing of anyone else's goes
            else:
                path.unlink()


@contextlib.contextmanager
def _locks(job: Prepared, status: bool) -> Iterator[None]:
    """The run's locks; refused for ``status`` with what helps there (it has no other state
    file or output to turn to: the run holding the lock is the one it would refresh)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(j.run_lock(job.state))
        except LockedError as exc:
            if not status:
                raise
            raise LockedError(
                f"a run holds the lock on {job.state} ({exc.holder}); wait for it to finish, "
                "then run status again",
                exc.holder,
            ) from None
        try:
            stack.enter_context(j.output_lock(job.output_mark))
        except LockedError as exc:
            if job.google is not None:
                raise LockedError(
                    f"another run writes {job.google.tab.label} ({exc.holder}); wait for it "
                    "to finish, then run again",
                    exc.holder,
                ) from None
            if not status:
                raise
            raise LockedError(
                f"a run writes {job.output} ({exc.holder}); wait for it to finish, "
                "then run status again",
                exc.holder,
            ) from None
        yield


def run_meta(job: Prepared) -> dict[str, str]:
    """What ``status`` needs to rebuild the run: its files, as the journal records them."""
    settings = job.settings
    if job.google is not None:
        meta = {"input": job.google.ref.url}
    else:
        assert job.output is not None
        meta = {"input": str(job.sheet.path.resolve()), "output": str(job.output.resolve())}
    if settings.config_path is not None:
        meta["config"] = str(settings.config_path.resolve())
    if settings.sheet_flag:
        meta["sheet_name"] = settings.sheet_flag
    if settings.encoding:
        meta["encoding"] = settings.encoding
    return meta
