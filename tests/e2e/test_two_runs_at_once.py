"""Two runs of one batch at once, on two state files (two cron hosts, an Airflow retry that
overlaps a slow attempt, two people in two terminals): Argil v1 has no idempotency key, so
both may create a draft for a row, but they settle on the same one before any render, delete
the other drafts, and no row is rendered twice. Real processes against the emulator."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support import leads_config, read_output, spawn, write_leads

from pipeline.emulator import EmulatorServer, EmulatorSettings

CONFIG = leads_config(input={"namespace": "two-runs"}, api={"read_rpm": 60000})


def start(tmp_path: Path, server: EmulatorServer, name: str, *extra: str) -> subprocess.Popen[str]:
    args = ["run", str(tmp_path / "leads.csv"), "-c", str(tmp_path / "c.yaml")]
    args += ["-o", str(tmp_path / f"{name}.csv"), "--state", str(tmp_path / f"{name}.state")]
    args += ["--base-url", server.base_url, "--no-progress", "--no-preflight", *extra]
    return spawn(*args)


def two_runs(tmp_path: Path, server: EmulatorServer, *extra: str) -> list[list[dict[str, str]]]:
    runs = [start(tmp_path, server, name, *extra) for name in ("a", "b")]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode in (0, 1), err
        assert "Traceback" not in err
    return [read_output(tmp_path / f"{name}.csv") for name in ("a", "b")]


def test_two_runs_with_render_on_two_state_files_render_no_row_twice(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG, encoding="utf-8")
    write_leads(tmp_path / "leads.csv", 60)
    settings = EmulatorSettings(latency_ms=15, latency_jitter_ms=10, render_seconds=60, seed=5)
    with EmulatorServer(settings) as server:
        a, b = two_runs(tmp_path, server, "--render")
        emulator = server.emulator
        videos = emulator.videos
        # Both runs made drafts for the same rows at once: the duplicates existed.
        assert emulator.stats.created > 60
        # One video a row at the end, and each of them rendered once.
        assert sorted(emulator.count_by_batch_key().values()) == [1] * 60
        assert emulator.stats.renders == 60
        assert all(v["status"] != "IDLE" for v in videos.values())
    # Both outputs name the same video for every row: the one that is left.
    by_key = {v["extras"]["argilBatchKey"]: video_id for video_id, v in videos.items()}
    for rows in (a, b):
        assert [r["argil_video_id"] for r in rows] == [by_key[r["argil_row_key"]] for r in rows]


def test_two_runs_without_render_end_with_one_draft_a_row(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG, encoding="utf-8")
    write_leads(tmp_path / "leads.csv", 60)
    settings = EmulatorSettings(latency_ms=15, latency_jitter_ms=10, seed=9)
    with EmulatorServer(settings) as server:
        a, b = two_runs(tmp_path, server)
        assert server.emulator.stats.created > 60
        assert sorted(server.emulator.count_by_batch_key().values()) == [1] * 60
        assert server.emulator.stats.renders == 0
        by_key = {v["extras"]["argilBatchKey"]: i for i, v in server.emulator.videos.items()}
    for rows in (a, b):
        assert [r["argil_video_id"] for r in rows] == [by_key[r["argil_row_key"]] for r in rows]
    # The row says what happened to its second video.
    noted = [r["argil_error"] for r in a + b if "videos carried this row's key" in r["argil_error"]]
    assert noted
