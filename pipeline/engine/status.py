"""``argil-batch status``: a run's state file found from its output sheet (or its sandbox
twin), and the run that refreshes it rebuilt from the input and config that run recorded."""

from __future__ import annotations

from pathlib import Path

from pipeline.engine.files import open_journal
from pipeline.errors import JobError
from pipeline.gsheets import GoogleSheetRef, google_state_path, google_states, parse_sheet_url
from pipeline.settings import SANDBOX_TARGET, JobSpec, RunOptions, state_path_for


def _is_sheet(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".tsv", ".xlsx", ".xlsm", ".ods")


def locate_state(target: Path, sandbox: bool = False) -> Path:
    """``status`` takes an output sheet or a state file; find the state file. ``sandbox``:
    only a sandbox run's, beside the sheet or beside its sandbox twin (leads.argil.csv ->
    leads.sandbox.argil.csv)."""
    if not target.exists():
        raise JobError(f"{target} does not exist; pass the output sheet or the state file of a run")
    if not _is_sheet(target):
        return target
    candidates = [state_path_for(target, True)]
    if sandbox and ".argil." in target.name and ".sandbox.argil." not in target.name:
        candidates.append(state_path_for(_sandbox_twin(target), True))
    if not sandbox:
        candidates.insert(0, state_path_for(target, False))
    found = [path for path in candidates if path.exists()]
    if not found:
        which = "no sandbox state file" if sandbox else "no state file"
        raise JobError(f"{which} beside {target}; pass the state file of its run with --state")
    return max(found, key=lambda p: p.stat().st_mtime)


def locate_google_state(ref: GoogleSheetRef, sandbox: bool) -> Path:
    """The state file of the last run over the Google Sheet's tab (in the state folder);
    without a gid in the URL, the spreadsheet's one run."""
    kinds = [True] if sandbox else [False, True]
    if ref.gid is not None:
        found = [google_state_path(ref, ref.gid, kind) for kind in kinds]
        found = [path for path in found if path.exists()]
    else:
        found = [path for kind in kinds for path in google_states(ref, kind)]
        tabs = {path.name.split(".")[0] for path in found}
        if len(tabs) > 1:
            raise JobError(
                f"runs were made over {len(tabs)} tabs of {ref.url}; pass the URL of the "
                "tab to refresh, as the browser shows it (it ends with #gid=...)"
            )
    if not found:
        which = "no sandbox run" if sandbox else "no run"
        raise JobError(
            f"{which} over {ref.url} is recorded on this machine; run `argil-batch run` on it "
            "first, or pass the run's state file with --state"
        )
    return max(found, key=lambda p: p.stat().st_mtime)


def _sandbox_twin(output: Path) -> Path:
    return output.with_name(output.name.replace(".argil.", ".sandbox.argil.", 1))


def status_spec(
    target: Path | GoogleSheetRef,
    *,
    wait: bool,
    wait_timeout: float,
    base_url: str | None = None,
    state: Path | None = None,
    sandbox: bool = False,
    read_rpm: float | None = None,
    download: Path | None = None,
) -> JobSpec:
    """A run that creates nothing: it refreshes the statuses of the videos a run made and
    rewrites its output sheet, from the input and config that run recorded.

    ``state``: the run's state file, wherever it is (then ``target`` may name the output
    sheet to rewrite). ``sandbox``: the sandbox run's, refused for a real run's state."""
    if state is not None and not state.exists():
        raise JobError(f"--state {state} does not exist; pass the state file of a run")
    if isinstance(target, GoogleSheetRef):
        output_named = False
        state = state or locate_google_state(target, sandbox)
    else:
        # With --state, a sheet named beside it is the output to rewrite (moved since then).
        output_named = state is not None and target != state and _is_sheet(target)
        state = state or locate_state(target, sandbox)
    journal = open_journal(state, None)
    try:
        meta = journal.meta()
    finally:
        journal.close()
    if "input" not in meta or "target" not in meta:
        raise JobError(f"{state} holds no finished run yet; run `argil-batch run` first")
    if "config" not in meta:
        raise JobError(
            f"{state} was made from Python with a config given as an object; refresh it with "
            "pipeline.run(..., state=...) and the same config"
        )
    google = parse_sheet_url(meta["input"])
    recorded_files = [("config", meta["config"])]
    if google is None:
        recorded_files.insert(0, ("sheet", meta["input"]))
    for what, recorded in recorded_files:
        if not Path(recorded).exists():
            # status rebuilds the output from the very files the run used: say which.
            raise JobError(
                f"the run recorded in {state} used the {what} {recorded}, which is not there "
                f"any more; put it back there, then run status again"
            )
    recorded_sandbox = meta["target"] == SANDBOX_TARGET
    if sandbox and not recorded_sandbox:
        raise JobError(f"{state} is the state of a real run, not a sandbox one; drop --sandbox")
    sandbox = recorded_sandbox
    output = Path(meta["output"]) if google is None else None
    if output_named and isinstance(target, Path):
        output = target
    return JobSpec(
        sheet=Path(meta["input"]) if google is None else google,
        config=Path(meta["config"]),
        output=output,
        state=state,
        sheet_name=meta.get("sheet_name"),
        encoding=meta.get("encoding"),
        sandbox=sandbox,
        base_url=base_url or (None if sandbox else meta["target"]),
        read_rpm=read_rpm,
        command="status",
        options=RunOptions(wait=wait, wait_timeout=wait_timeout, download=download),
    )
