"""The Python API: validate and run over a sheet file, a Google Sheet's URL, or a pandas
DataFrame.

    import pipeline
    report = pipeline.validate("leads.csv", "leads.yaml")
    frame = pipeline.run(df, "leads.yaml", state="leads.state", sandbox=True)

``run`` is the command line's ``run`` (the same checks, journal, lock and output sheet) and
returns the output sheet as a DataFrame: the input columns, then the ``argil_*`` columns,
every cell text. pandas is imported only where a DataFrame is involved.

Exceptions are the library's own, never ``SystemExit``, all under
:class:`~pipeline.errors.ArgilBatchError` (each with the ``exit_code`` the command line would
end with): :class:`~pipeline.errors.JobError` (the run cannot start: input, config, state, an
output path holding a file that is not an output; nothing was sent; its kinds
:class:`~pipeline.config.ConfigError` and :class:`~pipeline.sheets.SheetError` are raised by
``validate`` and ``run`` alike), :class:`~pipeline.errors.LockedError` (another run holds the
state file, or writes the output), :class:`~pipeline.errors.OutputError` (the output sheet
could not be written; the journal holds every row) and :class:`~pipeline.errors.RunStopped`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import Config, load_config
from pipeline.engine import JobOutcome, open_run, prepare
from pipeline.engine.files import read_input
from pipeline.errors import JobError, RunStopped
from pipeline.gsheets import GoogleSheetRef, sheet_source
from pipeline.progress import Progress
from pipeline.settings import WAIT_TIMEOUT, JobSpec, RunOptions, resolve, run_in_loop
from pipeline.sheets import Sheet, output_rows
from pipeline.validation import ValidationReport, validate_rows

if TYPE_CHECKING:
    import pandas


def validate(
    source: str | Path | pandas.DataFrame,
    config: str | Path | Config,
    *,
    sheet_name: str | None = None,
    encoding: str | None = None,
) -> ValidationReport:
    """Map and check every row, as ``argil-batch validate`` does; nothing is sent.

    The report's ``plans`` hold each row's errors, payload and key; ``valid``, ``invalid``
    and the estimates sum them up."""
    loaded = config if isinstance(config, Config) else load_config(Path(config))
    if _is_frame(source):
        from pipeline.sheets.frame import sheet_from_frame

        sheet = sheet_from_frame(source, Path("DataFrame"))
        return validate_rows(sheet, loaded)
    sheet, google = read_input(
        sheet_source(source),
        sheet_name=sheet_name,
        config_sheet=loaded.input.sheet,
        encoding=encoding,
        header_row=loaded.input.header_row,
    )
    return validate_rows(sheet, loaded, google)


def run(
    source: str | Path | pandas.DataFrame,
    config: str | Path | Config,
    *,
    state: str | Path | None = None,
    output: str | Path | None = None,
    overwrite: bool = False,
    sandbox: bool = False,
    render: bool = False,
    wait: bool = False,
    wait_timeout: float = WAIT_TIMEOUT,
    download: str | Path | None = None,
    rows: str | None = None,
    sample: int | None = None,
    retry_failed: bool = False,
    resend_changed: bool = False,
    new_batch: bool = False,
    preflight: bool = True,
    callback_url: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    rpm: float | None = None,
    read_rpm: float | None = None,
    concurrency: int | None = None,
    max_credits: float | None = None,
    sheet_name: str | None = None,
    encoding: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> pandas.DataFrame:
    """Make one video per row, exactly once, and return the output sheet as a DataFrame.

    ``source`` is a sheet file or a DataFrame; a DataFrame needs ``state`` (the journal that
    makes a re-run send nothing twice) and its output sheet is written beside it unless
    ``output`` says where. The key comes from ``api_key`` or ``ARGIL_API_KEY``; ``sandbox``
    runs against a local emulator instead (its output beside the state is then
    ``NAME.sandbox.argil.csv``, never the real run's). A file already at the output path is
    replaced only if it is an output of argil-batch (its state file records writing it, or
    its header has the ``argil_*`` columns), else :class:`~pipeline.errors.JobError` before
    anything is sent, unless ``overwrite``. ``max_credits`` is a budget: over it,
    :class:`~pipeline.errors.OverBudget` and nothing is sent. The other keywords are the ``run``
    command's flags.

    A run that stops before its end (the key or the credits refused, the budget reached, the
    API out of reach: the command line's exit 3) raises :class:`~pipeline.errors.RunStopped`,
    whose ``frame`` is the output sheet as far as it got.

    The frame's index is the input frame's (blank rows are left out), or for a file the row
    numbers the spreadsheet shows. Every column is text (``dtype=str``), the input's as it was
    read (leading zeros and "NA" kept): convert the ones you compute with. The frame's
    ``attrs["argil_summary"]`` holds the run's counts and its ``exit_code`` (0 when every row is
    fine, 1 when some failed).
    """
    loaded = config if isinstance(config, Config) else Path(config)
    frame_source = _is_frame(source)
    state_path = Path(state) if state is not None else None
    out = Path(output) if output is not None else None
    if frame_source:
        if state_path is None:
            raise JobError(
                "a DataFrame source needs state=: the journal file that makes a re-run send "
                "nothing twice (e.g. state='leads.state'); keep it between runs"
            )
        from pipeline.sheets.frame import sheet_from_frame

        sheet: Path | Sheet | GoogleSheetRef = sheet_from_frame(
            source, state_path.with_name(f"{state_path.stem}.dataframe")
        )
        kind = "sandbox.argil" if sandbox else "argil"
        out = out or state_path.with_name(f"{state_path.stem}.{kind}.csv")
    else:
        sheet = sheet_source(source)
    spec = JobSpec(
        sheet=sheet,
        config=loaded,
        output=out,
        overwrite=overwrite,
        sheet_name=sheet_name,
        encoding=encoding,
        state=state_path,
        sandbox=sandbox,
        base_url=base_url,
        api_key=api_key,
        rpm=rpm,
        read_rpm=read_rpm,
        concurrency=concurrency,
        max_credits=max_credits,
        rows=rows,
        sample=sample,
        options=RunOptions(
            render=render,
            wait=wait,
            wait_timeout=wait_timeout,
            download=Path(download) if download is not None else None,
            retry_failed=retry_failed,
            resend_changed=resend_changed,
            new_batch=new_batch,
            preflight=preflight,
            callback_url=callback_url,
        ),
    )
    # Every check the command line makes, made here by the same function.
    job = prepare(resolve(spec))

    def whole_run() -> JobOutcome:
        with open_run(job, on_progress=on_progress) as going:
            going.plan()
            return going.send()

    outcome: JobOutcome = run_in_loop(whole_run)
    index = list(getattr(source, "index", ())) if frame_source else None
    frame = _frame(job.sheet, outcome, index)
    if (outcome.summary.stopped or outcome.error) and not outcome.interrupted:
        # What the command line ends with exit 3 is an exception here, never a frame that
        # looks like a result: the output is written, and the exception carries it.
        why = outcome.error or outcome.summary.stopped or "the run stopped"
        raise RunStopped(f"the run stopped: {why}; unsent rows are left for the next run", frame)
    return frame


def _is_frame(source: Any) -> bool:
    # No pandas import for a path: the DataFrame type is only looked up when one is given.
    if isinstance(source, str | Path):
        return False
    import pandas

    if isinstance(source, pandas.DataFrame):
        return True
    raise JobError(f"source must be a path or a pandas.DataFrame, not {type(source).__name__}")


def _frame(sheet: Sheet, outcome: JobOutcome, index: list[Any] | None) -> pandas.DataFrame:
    import pandas

    header, lines = output_rows(sheet, outcome.columns)
    data = list(lines())
    labels = (
        [index[row.number - 2] for row in sheet.rows]
        if index is not None
        else pandas.Index([row.number for row in sheet.rows], name="row")
    )
    frame = pandas.DataFrame(data, columns=header, index=labels, dtype=str)
    summary = outcome.summary.as_dict()
    summary.update(exit_code=outcome.exit_code, output=str(outcome.output), notes=outcome.notes)
    frame.attrs["argil_summary"] = summary
    return frame


__all__ = ["run", "validate"]
