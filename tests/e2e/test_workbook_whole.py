"""A workbook comes back whole through runs: the next run reads the formulas' values the first
wrote, a macro workbook comes back as one, and the advice to write a CSV instead never names a
file of the user's (the output itself: tests/unit/sheets/test_workbook_whole.py)."""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from support import SHEETS as FIXTURES

from pipeline.emulator import EmulatorServer
from pipeline.sheets import OUTPUT_COLUMNS, read_sheet

from ..unit.sheets.test_workbook_whole import HEADERS, PLANNER, expected_formula_values

CONFIG = """\
input:
  sheet: Leads
  key: [email]
  namespace: planner
video:
  name: "Intro for {{ full_name }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: "{{ avatar }}"
api: {rpm: 60000, concurrency: 8}
"""


def run(
    cli: Callable[..., Result],
    server: EmulatorServer,
    sheet: Path,
    config: Path,
    out: Path,
    state: Path,
) -> tuple[int, str]:
    args = ["run", sheet, "-c", config, "-o", out, "--state", state]
    result = cli(*args, "--base-url", server.base_url, "--no-progress")
    return result.exit_code, result.stderr


def test_a_planner_run_twice_reads_every_formulas_value_the_second_time(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "planner.xlsx"
    shutil.copy(PLANNER, sheet)
    config = tmp_path / "planner.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    state = tmp_path / "planner.state"
    first, second = tmp_path / "planner.argil.xlsx", tmp_path / "planner.again.xlsx"
    code, err = run(cli, emulator, sheet, config, first, state)
    assert code == 0, err
    assert "37 rows: 37 created," in err
    # The second run reads the first one's output: its VLOOKUP and CONCAT columns read as
    # what they computed, so every row is valid and already sent.
    code, err = run(cli, emulator, first, config, second, state)
    assert code == 0, err
    assert "37 rows: 0 created, 0 adopted, 37 already sent, 0 failed, 0 invalid" in err
    assert "no saved value" not in err
    counts = emulator.emulator.count_by_batch_key()
    assert len(counts) == 37 and set(counts.values()) == {1}
    back = read_sheet(second, sheet="Leads")
    assert not [note for note in back.notes if "no saved value" in note]
    assert back.header_row == 2
    assert back.headers == [*HEADERS, *OUTPUT_COLUMNS], "one set of result columns, in place"
    avatars, names = expected_formula_values()
    assert [row.values["avatar"] for row in back.rows] == avatars
    assert [row.values["full_name"] for row in back.rows] == names
    ids = [row.values["argil_video_id"] for row in read_sheet(first, sheet="Leads").rows]
    assert all(ids) and [row.values["argil_video_id"] for row in back.rows] == ids


def test_the_advice_to_write_a_csv_never_names_an_existing_file(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "leads.xlsx"
    with zipfile.ZipFile(PLANNER) as a, zipfile.ZipFile(sheet, "w") as b:
        for info in a.infolist():
            damaged = b"<styleSheet><oops></styleSheet>"
            b.writestr(info, damaged if info.filename == "xl/styles.xml" else a.read(info))
    config = tmp_path / "planner.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    users = {tmp_path / "leads.csv": b"a\r\n", tmp_path / "leads.argil.csv": b"b\r\n"}
    for path, data in users.items():
        path.write_bytes(data)
    code, err = run(cli, emulator, sheet, config, tmp_path / "out.xlsx", tmp_path / "s.state")
    assert code == 2, err
    named = re.search(r"\(-o ([^)]+)\)", err)
    assert named is not None, err
    assert not (tmp_path / named.group(1)).exists(), f"the advice names the user's {named[1]}"
    assert named.group(1) == "out.csv"  # beside the -o asked for, and free
    assert "cannot be handed back as a workbook" in err
    assert emulator.emulator.stats.creates == 0
    assert all(path.read_bytes() == data for path, data in users.items())


def test_a_macro_workbook_run_comes_back_as_a_macro_workbook(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    source = FIXTURES / "macro_project.xlsm"
    sheet = tmp_path / "project.xlsm"
    sheet.write_bytes(source.read_bytes())
    with zipfile.ZipFile(sheet) as archive:
        macros = archive.read("xl/vbaProject.bin")
    config = tmp_path / "c.yaml"
    config.write_text(
        "input: {key: [email]}\nvideo: {name: 'Video for {{ first_name }}'}\n"
        "moments:\n  - {transcript: 'Hello {{ first_name }}!', avatar_id: avatar-emma}\n",
        encoding="utf-8",
    )
    result = cli("run", sheet, "-c", config, "--base-url", emulator.base_url, "--no-progress")
    assert result.exit_code == 0, result.stderr
    output = tmp_path / "project.argil.xlsm"
    with zipfile.ZipFile(output) as archive:
        assert archive.read("xl/vbaProject.bin") == macros
    assert "Note:" not in result.stderr  # no macros said to be left out
