"""A campaign renamed: a dated export is the same batch every night (no video made again), and
a batch new to the API whose rows already have videos in another batch stops before sending,
saying how to go on with that batch or start a new one. Over HTTP to the emulator."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from support import read_output, write_leads

from pipeline.emulator import EmulatorServer

# Reads unpaced: a renamed batch is found by listing the API.
API = {"read_rpm": 60000}


def run(
    cli: Callable[..., Result], sheet: Path, config: Path, server: EmulatorServer, *extra: str
) -> Result:
    args = ["run", sheet, "-c", config, "--base-url", server.base_url]
    return cli(*args, "--no-progress", "--no-preflight", *extra)


def test_tomorrows_export_under_a_new_name_makes_only_the_new_rows(
    tmp_path: Path, cli: Callable[..., Result], config: Callable[..., Path]
) -> None:
    leads = config("leads.yaml", api=API)
    today = tmp_path / "hubspot-crm-exports-all-contacts-2026-12-04.csv"
    tomorrow = tmp_path / "hubspot-crm-exports-all-contacts-2026-12-05.csv"
    write_leads(today, 5)
    write_leads(tomorrow, 6)  # the same five contacts and a new one
    with EmulatorServer() as server:
        result = run(cli, today, leads, server)
        assert result.exit_code == 0, result.stderr
        result = run(cli, tomorrow, leads, server)
        assert result.exit_code == 0, result.stderr
        assert "1 created, 5 adopted" in result.stderr
        counts = server.emulator.count_by_batch_key()
        assert len(counts) == 6 and set(counts.values()) == {1}


def test_a_renamed_config_stops_before_sending_and_says_how_to_go_on(
    tmp_path: Path, cli: Callable[..., Result], config: Callable[..., Path]
) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 4)
    first = config("leads.yaml", api=API)
    renamed = tmp_path / "leads-2027.yaml"
    with EmulatorServer() as server:
        result = run(cli, sheet, first, server)
        assert result.exit_code == 0, result.stderr
        (old_tag,) = {v["extras"]["argilBatch"] for v in server.emulator.videos.values()}
        row_2_video = read_output(tmp_path / "leads.argil.csv")[0]["argil_video_id"]
        shutil.move(first, renamed)
        (tmp_path / "leads.argil.csv").unlink()
        (tmp_path / "leads.argil.csv.state").unlink()
        creates = server.emulator.stats.creates

        result = run(cli, sheet, renamed, server)
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines()[-1] == (
            f"Error: row 2 already has video {row_2_video} in another "
            f"batch ({old_tag}), and this batch has none yet: the config or its sheet tab was "
            "renamed, or this campaign ran under another name. Nothing was sent. To go on with "
            f"that batch (its videos kept, none made twice), set `batch: {old_tag}` under input "
            "in the config; to make new videos for these rows, run with --new-batch"
        )
        assert server.emulator.stats.creates == creates
        assert not (tmp_path / "leads.argil.csv.state").exists()

        # Going on with that batch: its videos are found again, none made.
        config("leads-2027.yaml", input={"batch": old_tag}, api=API)
        result = run(cli, sheet, renamed, server)
        assert result.exit_code == 0, result.stderr
        assert "0 created, 4 adopted" in result.stderr
        assert server.emulator.stats.creates == creates


def test_new_batch_makes_new_videos_when_that_is_what_is_meant(
    tmp_path: Path, cli: Callable[..., Result], config: Callable[..., Path]
) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 3)
    english = config("leads.yaml", api=API)
    french_name = {"name": "Bonjour {{ first_name }} at {{ company }}"}
    french = config("leads-fr.yaml", video=french_name, api=API)
    with EmulatorServer() as server:
        assert run(cli, sheet, english, server).exit_code == 0
        result = run(cli, sheet, french, server, "-o", str(tmp_path / "fr.csv"))
        assert result.exit_code == 2
        result = run(cli, sheet, french, server, "-o", str(tmp_path / "fr.csv"), "--new-batch")
        assert result.exit_code == 0, result.stderr
        assert "3 created" in result.stderr
        # The next night the French batch is no longer new: no flag needed.
        result = run(cli, sheet, french, server, "-o", str(tmp_path / "fr.csv"))
        assert result.exit_code == 0 and "3 already sent" in result.stderr
        assert len(server.emulator.videos) == 6
