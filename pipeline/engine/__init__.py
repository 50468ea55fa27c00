"""The run: a sheet's rows to videos, exactly once.

The layers, each importing only those below it::

    job        files and locks, the journal, the event loop, the output sheet; a run in two
               halves (plan, then send), a dry run, ``status``
    run        the order of the steps on a run's rows (Engine)
    submit, reconcile, render, follow, preflight
               the steps: functions and small classes of (client, state) that change rows
               only through the state's public API
    state      RunState: every row's result, the summary, the stop, the journal writes
    plan, listing, results
               pure: the journal's records and the API's listing to decisions; the status
               words and the one mapping from a journal record to a row's status
"""

from pipeline.engine.files import Prepared, prepare
from pipeline.engine.job import JobOutcome, Run, dry_run, open_run, refresh, run_job
from pipeline.engine.plan import Plan, plan_rows
from pipeline.engine.preflight import preflight_report
from pipeline.engine.reconcile import OtherBatch
from pipeline.engine.results import RowResult, RunSummary, status_of
from pipeline.engine.state import RunState
from pipeline.engine.status import locate_state, status_spec

__all__ = [
    "JobOutcome",
    "OtherBatch",
    "Plan",
    "Prepared",
    "RowResult",
    "Run",
    "RunState",
    "RunSummary",
    "dry_run",
    "locate_state",
    "open_run",
    "plan_rows",
    "preflight_report",
    "prepare",
    "refresh",
    "run_job",
    "status_of",
    "status_spec",
]
