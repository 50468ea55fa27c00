"""What a re-run does with each kind of row the journal already knows, over real HTTP."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from support import CLI_KEY, product_config

from pipeline.argil.client import ArgilClient
from pipeline.config import load_config
from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job, status_spec
from pipeline.journal import Journal
from pipeline.settings import Command, JobSpec, RunOptions
from pipeline.sheets import read_sheet
from pipeline.validation import validate_rows


def write_sheet(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "product", "script"])
        writer.writerows(rows)


def output(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["sku"]: row for row in csv.DictReader(handle)}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    config = tmp_path / "c.yaml"
    config.write_text(product_config(api={"rpm": 6000, "concurrency": 4}), encoding="utf-8")
    return {"sheet": tmp_path / "s.csv", "config": config, "output": tmp_path / "o.csv"}


def job(
    files: dict[str, Path], server: EmulatorServer, command: Command = "run", **options: bool
) -> JobSpec:
    return JobSpec(
        command=command,
        sheet=files["sheet"],
        config=files["config"],
        output=files["output"],
        base_url=server.base_url,
        api_key=CLI_KEY,
        options=RunOptions(preflight=False, **options),  # type: ignore[arg-type]
    )


def test_an_edited_row_is_reported_changed_and_resent_only_on_request(
    files: dict[str, Path],
) -> None:
    write_sheet(files["sheet"], [("A1", "Alpha", "First script."), ("B2", "Beta", "Second.")])
    with EmulatorServer() as server:
        assert run_job(job(files, server)).exit_code == 0
        first_ids = {k: r["argil_video_id"] for k, r in output(files["output"]).items()}

        # Rows reordered, one edited, one inserted: keyed rows keep their identity.
        write_sheet(
            files["sheet"],
            [("C3", "Gamma", "New row."), ("B2", "Beta", "Second."), ("A1", "Alpha", "Edited!")],
        )
        outcome = run_job(job(files, server))
        # Reported and counted, not a failure.
        assert outcome.exit_code == 0 and outcome.summary.changed == 1
        rows = output(files["output"])
        assert rows["A1"]["argil_status"] == "CHANGED"
        assert "(moments[0].transcript)" in rows["A1"]["argil_error"]
        assert rows["A1"]["argil_video_id"] == first_ids["A1"], "the old video is left alone"
        assert rows["B2"]["argil_video_id"] == first_ids["B2"]
        assert rows["C3"]["argil_video_id"] and outcome.summary.created == 1

        outcome = run_job(job(files, server, resend_changed=True))
        assert outcome.exit_code == 0 and outcome.summary.created == 1
        rows = output(files["output"])
        assert rows["A1"]["argil_video_id"] not in ("", first_ids["A1"])
        counts = server.emulator.count_by_batch_key()
        key = rows["A1"]["argil_row_key"]
        # The new video carries its own generation of the key, so a lookup of one never
        # finds the other.
        assert counts[key] == 1 and counts[f"{key}~1"] == 1


def test_a_refused_row_is_retried_when_edited_or_with_retry_failed(
    files: dict[str, Path],
) -> None:
    long_script = "This launch script is fine by our limit but not by the server's. " * 5
    write_sheet(files["sheet"], [("A1", "Alpha", long_script), ("B2", "Beta", "Short.")])
    # A server that still applies the older 250-character limit refuses the long row.
    with EmulatorServer(EmulatorSettings(transcript_chars=250)) as server:
        outcome = run_job(job(files, server))
        assert outcome.exit_code == 1 and outcome.summary.failed == 1
        row = output(files["output"])["A1"]
        assert row["argil_status"] == "FAILED" and "250" in row["argil_error"]

        creates = server.emulator.stats.creates
        outcome = run_job(job(files, server))
        assert server.emulator.stats.creates == creates, "a failed row is not resent as is"
        assert output(files["output"])["A1"]["argil_status"] == "FAILED"

        outcome = run_job(job(files, server, retry_failed=True))
        assert server.emulator.stats.creates == creates + 1
        assert outcome.summary.failed == 1

        write_sheet(files["sheet"], [("A1", "Alpha", "Now short."), ("B2", "Beta", "Short.")])
        outcome = run_job(job(files, server))
        assert outcome.exit_code == 0
        assert output(files["output"])["A1"]["argil_video_id"]
        assert len(server.emulator.count_by_batch_key()) == 2


def test_a_row_in_flight_is_adopted_and_extra_videos_are_named(
    files: dict[str, Path], tmp_path: Path
) -> None:
    write_sheet(files["sheet"], [("A1", "Alpha", "Hello.")])
    with EmulatorServer() as server:
        assert run_job(job(files, server, command="dry-run")).summary.would_send == 1
        report = validate_rows(read_sheet(files["sheet"]), load_config(files["config"]))
        (row,) = report.plans
        assert row.body is not None and row.payload_hash is not None

        async def create_twice() -> list[str]:
            async with ArgilClient(CLI_KEY, server.base_url) as client:
                return [(await client.create_video(row.body)).id for _ in range(2)]  # type: ignore[arg-type]

        made = asyncio.run(create_twice())
        # A crash right after sending: the journal says in flight, the API has the video
        # (twice, as if another tool had also sent it).
        state = files["output"].with_name("o.csv.state")
        journal = Journal(state, target=server.base_url)
        journal.mark_in_flight(row.key, row.row, row.payload_hash, row.moments, 0)
        journal.close()

        outcome = run_job(job(files, server))
        assert outcome.summary.adopted == 1 and outcome.summary.created == 0
        result = output(files["output"])["A1"]
        assert result["argil_video_id"] == made[0]
        assert result["argil_error"] == f"2 videos carry this row's key: {made[1]}"


def test_status_adopts_a_row_left_in_flight_but_never_sends(files: dict[str, Path]) -> None:
    write_sheet(files["sheet"], [("A1", "Alpha", "Hello.")])
    with EmulatorServer() as server:
        assert run_job(job(files, server)).exit_code == 0
        write_sheet(
            files["sheet"],
            [("A1", "Alpha", "Hello."), ("B2", "Beta", "Hi."), ("C3", "Gamma", "Yo.")],
        )
        plans = validate_rows(read_sheet(files["sheet"]), load_config(files["config"])).plans
        b2, c3 = plans[1], plans[2]

        async def create() -> str:
            async with ArgilClient(CLI_KEY, server.base_url) as client:
                return (await client.create_video(b2.body)).id  # type: ignore[arg-type]

        made = asyncio.run(create())
        state = files["output"].with_name("o.csv.state")
        journal = Journal(state, target=server.base_url)
        for plan in (b2, c3):  # both crashed in flight; only B2's create reached the API
            journal.mark_in_flight(plan.key, plan.row, plan.payload_hash or "", plan.moments, 0)
        journal.close()

        creates = server.emulator.stats.creates
        refresh = status_spec(state, wait=False, wait_timeout=0)
        refresh.api_key = CLI_KEY
        outcome = run_job(refresh)
        assert server.emulator.stats.creates == creates, "status never sends"
        assert outcome.summary.adopted == 1
        rows = output(files["output"])
        assert rows["B2"]["argil_video_id"] == made
        assert rows["C3"]["argil_status"] == "IN_DOUBT"

        outcome = run_job(job(files, server))  # the next run looks C3 up, then sends it
        assert outcome.summary.created == 1 and outcome.exit_code == 0
        assert set(server.emulator.count_by_batch_key().values()) == {1}
