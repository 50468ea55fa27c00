"""A campaign renamed: a dated export is the same batch every night (no video made again), and
a batch new to the API whose rows already have videos in another batch stops before sending,
saying how to go on with that batch or start a new one. Over HTTP to the emulator."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner
from support import read_output, write_leads

from pipeline.cli import main
from pipeline.emulator import EmulatorServer

KEY = "sk-test-renamed-0123456789"
CONFIG = """\
input:
  key: [email]
video:
  name: "Intro for {{ first_name }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
api: {rpm: 60000, read_rpm: 60000}
"""


def run(sheet: Path, config: Path, server: EmulatorServer, *extra: str) -> tuple[int, str]:
    args = ["run", str(sheet), "-c", str(config), "--base-url", server.base_url]
    result = CliRunner().invoke(
        main, [*args, "--no-progress", "--no-preflight", *extra], env={"ARGIL_API_KEY": KEY}
    )
    return result.exit_code, result.stderr


def test_tomorrows_export_under_a_new_name_makes_only_the_new_rows(tmp_path: Path) -> None:
    config = tmp_path / "leads.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    today = tmp_path / "hubspot-crm-exports-all-contacts-2026-12-04.csv"
    tomorrow = tmp_path / "hubspot-crm-exports-all-contacts-2026-12-05.csv"
    write_leads(today, 5)
    write_leads(tomorrow, 6)  # the same five contacts and a new one
    with EmulatorServer() as server:
        code, err = run(today, config, server)
        assert code == 0, err
        code, err = run(tomorrow, config, server)
        assert code == 0, err
        assert "1 created, 5 adopted" in err
        counts = server.emulator.count_by_batch_key()
        assert len(counts) == 6 and set(counts.values()) == {1}


def test_a_renamed_config_stops_before_sending_and_says_how_to_go_on(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 4)
    first = tmp_path / "leads.yaml"
    first.write_text(CONFIG, encoding="utf-8")
    renamed = tmp_path / "leads-2027.yaml"
    with EmulatorServer() as server:
        code, err = run(sheet, first, server)
        assert code == 0, err
        (old_tag,) = {v["extras"]["argilBatch"] for v in server.emulator.videos.values()}
        row_2_video = read_output(tmp_path / "leads.argil.csv")[0]["argil_video_id"]
        shutil.move(first, renamed)
        (tmp_path / "leads.argil.csv").unlink()
        (tmp_path / "leads.argil.csv.state").unlink()
        creates = server.emulator.stats.creates

        code, err = run(sheet, renamed, server)
        assert code == 2
        assert err.strip().splitlines()[-1] == (
            f"Error: row 2 already has video {row_2_video} in another "
            f"batch ({old_tag}), and this batch has none yet: the config or its sheet tab was "
            "renamed, or this campaign ran under another name. Nothing was sent. To go on with "
            f"that batch (its videos kept, none made twice), set `batch: {old_tag}` under input "
            "in the config; to make new videos for these rows, run with --new-batch"
        )
        assert server.emulator.stats.creates == creates
        assert not (tmp_path / "leads.argil.csv.state").exists()

        # Going on with that batch: its videos are found again, none made.
        renamed.write_text(CONFIG.replace("key: [email]", f"key: [email]\n  batch: {old_tag}"))
        code, err = run(sheet, renamed, server)
        assert code == 0, err
        assert "0 created, 4 adopted" in err
        assert server.emulator.stats.creates == creates


def test_new_batch_makes_new_videos_when_that_is_what_is_meant(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 3)
    english = tmp_path / "leads.yaml"
    english.write_text(CONFIG, encoding="utf-8")
    french = tmp_path / "leads-fr.yaml"
    french.write_text(CONFIG.replace("Intro for", "Bonjour"), encoding="utf-8")
    with EmulatorServer() as server:
        assert run(sheet, english, server)[0] == 0
        code, _ = run(sheet, french, server, "-o", str(tmp_path / "fr.csv"))
        assert code == 2
        code, err = run(sheet, french, server, "-o", str(tmp_path / "fr.csv"), "--new-batch")
        assert code == 0, err
        assert "3 created" in err
        # The next night the French batch is no longer new: no flag needed.
        code, err = run(sheet, french, server, "-o", str(tmp_path / "fr.csv"))
        assert code == 0 and "3 already sent" in err
        assert len(server.emulator.videos) == 6
