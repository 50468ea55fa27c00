"""The Python API on real files and the sandbox emulator: a DataFrame or a path in, the output
sheet as a DataFrame out, the library's exceptions (never SystemExit), no pandas on CLI start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas
import pytest
from support import ROOT

import pipeline
from pipeline.config import ConfigError, load_config
from pipeline.errors import JobError
from pipeline.mapping import VALID
from pipeline.sheets import OUTPUT_COLUMNS

LEADS = ROOT / "input_examples" / "leads.csv"
CONFIG = ROOT / "configs" / "leads.yaml"


def leads() -> pandas.DataFrame:
    frame = pandas.read_csv(LEADS, dtype=str, keep_default_na=False)
    frame.insert(0, "code", [f"{n:04d}" for n in range(len(frame))])
    frame.index = [f"lead-{n}" for n in range(len(frame))]
    return frame


def test_run_over_a_dataframe_returns_the_output_sheet(tmp_path: Path) -> None:
    frame = leads()
    state = tmp_path / "st.db"
    out = pipeline.run(frame, str(CONFIG), state=str(state), sandbox=True)
    assert list(out.columns) == [*frame.columns, *OUTPUT_COLUMNS]
    report = pipeline.validate(frame, CONFIG)
    valid = {plan.row for plan in report.plans if plan.status == VALID}
    assert valid and len(valid) == report.valid
    positions = {frame.index[row - 2] for row in valid}
    ids = out.loc[sorted(positions), "argil_video_id"]
    assert ids.str.len().gt(0).all() and ids.is_unique
    # Cells are text, the input's index is kept, and the input frame is not changed.
    assert out.loc["lead-0", "code"] == "0000" and list(out.index) == list(frame.index)
    assert "argil_video_id" not in frame.columns
    summary = out.attrs["argil_summary"]
    assert summary["created"] == len(valid) and summary["exit_code"] == 0
    # A sandbox run's output is its own, never the real run's file name.
    assert Path(summary["output"]) == tmp_path / "st.sandbox.argil.csv"
    # Exactly once: the same frame again sends nothing new and gives the same ids.
    again = pipeline.run(frame, load_config(CONFIG), state=state, sandbox=True)
    assert again.attrs["argil_summary"]["created"] == 0
    assert list(again.loc[sorted(positions), "argil_video_id"]) == list(ids)


def test_run_over_a_path_returns_the_output_sheet(tmp_path: Path) -> None:
    output = tmp_path / "leads.argil.csv"
    out = pipeline.run(LEADS, CONFIG, output=output, sandbox=True)
    assert out.index.name == "row" and out.index[0] == 2
    assert list(out.columns)[-len(OUTPUT_COLUMNS) :] == list(OUTPUT_COLUMNS)
    created = out[out["argil_status"] != "SKIPPED"]
    assert len(created) and created["argil_video_id"].str.len().gt(0).all()
    assert output.exists() and (tmp_path / "leads.argil.csv.sandbox-state").exists()


def test_a_dataframe_needs_a_state_file() -> None:
    with pytest.raises(JobError, match="state="):
        pipeline.run(leads(), CONFIG, sandbox=True)


def test_library_errors_are_exceptions_not_exits(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="no such file"):
        pipeline.run(tmp_path / "missing.csv", CONFIG, sandbox=True)
    with pytest.raises(ConfigError):
        pipeline.validate(leads(), tmp_path / "missing.yaml")
    with pytest.raises(JobError, match=r"path or a pandas\.DataFrame"):
        pipeline.run(42, CONFIG, state=tmp_path / "s")  # type: ignore[arg-type]


CLI_START = """
import sys
from pipeline.cli import main
try:
    main(["--help"], standalone_mode=False)
finally:
    print("LOADED", [m for m in ("pandas", "numpy", "openpyxl") if m in sys.modules])
"""


def test_the_command_line_starts_without_pandas() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI_START], capture_output=True, text=True, timeout=60, check=True
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED"))
    assert json.loads(line.removeprefix("LOADED ").replace("'", '"')) == []


def test_a_budget_from_python_and_the_errors_at_the_package_root(tmp_path: Path) -> None:
    frame = leads()
    with pytest.raises(pipeline.OverBudget) as refused:
        pipeline.run(frame, CONFIG, state=tmp_path / "st.db", sandbox=True, max_credits=1)
    assert "nothing was sent" in str(refused.value)
    assert not (tmp_path / "st.sandbox.argil.csv").exists()
    # Every exception the API's docstring names is importable from the package itself.
    assert issubclass(pipeline.OverBudget, pipeline.JobError)
    assert pipeline.ConfigError is ConfigError and pipeline.JobError is JobError
    for name in ("LockedError", "OutputError", "SheetError"):
        assert issubclass(getattr(pipeline, name), Exception)


def test_a_run_the_api_refuses_raises_with_the_frame_written(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    sheet.write_text("email,script\na@x.test,Hello there\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        "input: {key: [email]}\nvideo: {name: '{{ email }}'}\n"
        "moments:\n  - transcript: '{{ script }}'\n    avatar_id: avatar-emma\n",
        encoding="utf-8",
    )
    from pipeline.emulator import EmulatorServer, EmulatorSettings

    with (
        EmulatorServer(EmulatorSettings(api_key="the-right-key")) as server,
        pytest.raises(pipeline.RunStopped) as caught,
    ):
        pipeline.run(
            sheet, config, api_key="a-wrong-key", base_url=server.base_url, preflight=False
        )
    assert "the run stopped: " in str(caught.value)
    assert "a-wrong-key" not in str(caught.value)
    assert list(caught.value.frame["argil_status"]) == ["PENDING"]


def test_with_nothing_to_send_a_revoked_key_is_still_noticed(tmp_path: Path) -> None:
    from pipeline.emulator import EmulatorServer, EmulatorSettings
    from pipeline.engine import run_job
    from pipeline.settings import JobSpec

    sheet = tmp_path / "leads.csv"
    sheet.write_text("email,script\na@x.test,Hello there\n", encoding="utf-8")
    config = tmp_path / "c.yaml"
    config.write_text(
        "input: {key: [email]}\nvideo: {name: '{{ email }}'}\n"
        "moments:\n  - transcript: '{{ script }}'\n    avatar_id: avatar-emma\n",
        encoding="utf-8",
    )
    with EmulatorServer(EmulatorSettings(api_key="tonight-s-key")) as server:
        spec = JobSpec(
            sheet=sheet, config=config, base_url=server.base_url, api_key="tonight-s-key"
        )
        assert run_job(spec).exit_code == 0
        revoked = JobSpec(sheet=sheet, config=config, base_url=server.base_url, api_key="revoked")
        outcome = run_job(revoked)
        assert server.emulator.stats.requests >= 1
    # Nothing to send, and still the key was asked about once: a quiet 0 would hide it.
    assert outcome.summary.already == 1
    assert outcome.exit_code == 3 and outcome.summary.stopped
