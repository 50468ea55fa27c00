"""The sheet as the user made it (issue 22): a HubSpot contacts export (cp1252, semicolons,
CRLF, accents, a blank row, two unnamed columns, a header with a trailing space) and a campaign
planner workbook (a README tab first, a merged title above the header, VLOOKUP and CONCAT
formulas, one lookup that found nothing, a lookup tab). Real files, through the command line
(through the library: tests/unit/sheets/test_sheet_as_made.py)."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml
from click.testing import Result
from openpyxl import Workbook

from pipeline.sheets import read_sheet

from ..unit.sheets.test_sheet_as_made import (
    HUBSPOT,
    PLANNER,
    PLANNER_CONFIG,
    TITLE_NOTE,
    records,
    write,
)

HUBSPOT_CONFIG = """\
input:
  namespace: hubspot-contacts
  key: [Record ID]
video:
  name: "Video for {{ first_name }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
"""


def copy(source: Path, folder: Path) -> Path:
    target = folder / source.name
    shutil.copy(source, target)
    return target


def input_records() -> list[bytes]:
    """The fixture's records as bytes, each without its CRLF (one holds a line break)."""
    with HUBSPOT.open(newline="", encoding="cp1252") as f:
        parsed = list(csv.reader(f, delimiter=";"))
    raw = HUBSPOT.read_bytes().split(b"\r\n")[:-1]
    # Record 5 (row 5) spans two lines: its quoted script holds a CRLF.
    joined = [*raw[:4], raw[4] + b"\r\n" + raw[5], *raw[6:]]
    assert len(joined) == len(parsed) == 6
    return joined


# --- 4. a title row above the header -------------------------------------------------------


def test_validate_reads_the_planner_under_its_title(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    config = write(tmp_path, "planner.yaml", PLANNER_CONFIG)
    payloads = tmp_path / "p.jsonl"
    result = cli("validate", str(PLANNER), "--sheet", "Leads", "-c", str(config))
    assert result.exit_code == 1  # row 6: the lookup found nothing
    assert result.stderr == f"Note: {TITLE_NOTE}\n"
    assert result.stdout.splitlines()[-1].startswith("5 rows: 4 valid, 1 invalid, 0 skipped; ")
    result = cli("validate", str(PLANNER), "-c", str(config), "--payloads", str(payloads))
    bodies = [json.loads(line) for line in payloads.read_text(encoding="utf-8").splitlines()]
    # Rows keep the numbers the spreadsheet shows: the first data row is row 3.
    assert [body["row"] for body in bodies] == [3, 4, 5, 7]
    assert bodies[0]["body"]["moments"][0]["avatarId"] == "av-3d02"


def test_validate_reads_the_header_where_the_config_puts_it(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    path = write(
        tmp_path,
        "plan.csv",
        "Q3 planner\nOwner: Jo,Updated: May\nname,script\nAna,Hello Ana. How are you?\n",
    )
    config = write(
        tmp_path,
        "c.yaml",
        "input:\n  header_row: 3\nvideo:\n  name: x\nmoments:\n"
        "  - transcript: '{{ script }}'\n    avatar_id: avatar-emma\n",
    )
    result = cli("validate", str(path), "-c", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 row: 1 valid, 0 invalid, 0 skipped; ")


# --- 4. init picks the data, never a lookup tab --------------------------------------------


def test_init_on_the_planner_picks_the_leads_under_their_title(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    result = cli("init", str(PLANNER))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"Note: {TITLE_NOTE}\n"
    data = yaml.safe_load(result.stdout)
    assert data["input"] == {"namespace": "campaign-planner", "sheet": "Leads", "key": ["Email"]}
    assert data["moments"] == [{"transcript": "{{ script }}", "avatar_id": "{{ avatar }}"}]
    assert "# The workbook's sheets: 'README', 'Leads', 'Lookup'; the data is in 'Leads'." in (
        result.stdout
    )
    assert "# The header is on row 2; rows keep the numbers the sheet shows.\n" in result.stdout
    assert "# transcript: 'Script', the longest column of prose.\n" in result.stdout
    config = write(tmp_path, "starter.yaml", result.stdout)
    checked = cli("validate", str(PLANNER), "-c", str(config))
    assert checked.stdout.splitlines()[-1].startswith("5 rows: 4 valid, 1 invalid, 0 skipped; ")


def lookup_first(path: Path, *, with_leads: bool) -> Path:
    book = Workbook()
    lookup = book.active
    assert lookup is not None
    lookup.title = "Lookup"
    lookup.append(["Region", "Avatar", "Voice"])
    for region, n in (("EMEA", 1), ("NA", 2), ("APAC", 3), ("LATAM", 4)):
        lookup.append([region, f"av-{n}f3a", f"vo-{n}b21"])
    if with_leads:
        leads = book.create_sheet("Leads")
        leads.append(["email", "region", "pitch"])
        for i in range(3):
            leads.append([f"l{i}@example.com", "EMEA", f"Hello {i}, here is our idea for you."])
    book.save(path)
    return path


def test_init_passes_a_lookup_tab_over_for_the_sheet_with_a_script(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    path = lookup_first(tmp_path / "book.xlsx", with_leads=True)
    result = cli("init", str(path))
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["input"]["sheet"] == "Leads"
    assert data["moments"][0]["transcript"] == "{{ pitch }}"


def test_a_column_of_codes_is_never_the_script(tmp_path: Path, cli: Callable[..., Result]) -> None:
    path = lookup_first(tmp_path / "book.xlsx", with_leads=False)
    result = cli("init", str(path))
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load(result.stdout)
    assert data["moments"][0]["transcript"] == "Hello! This is my first Argil video."
    assert "# transcript: no column of prose found; write the script or name a column.\n" in (
        result.stdout
    )


# --- 6, 7. the user's cells come back as they came -----------------------------------------


def test_a_run_gives_every_cell_of_the_export_back_as_it_came(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = copy(HUBSPOT, tmp_path)
    config = write(tmp_path, "hubspot.yaml", HUBSPOT_CONFIG)
    result = cli("run", str(source), "-c", str(config), "--sandbox", "--no-progress")
    assert result.exit_code == 0, result.output
    out = tmp_path / "hubspot_contacts.sandbox.argil.csv"
    assert result.stderr.splitlines()[-1] == f"Output: {out} (CSV, cp1252, semicolon-separated)"
    data = out.read_bytes()
    assert data.endswith(b"\r\n")
    # Every record is the input's, byte for byte, then a semicolon and the result cells.
    written = data.split(b"\r\n")
    lines = [*written[:4], written[4] + b"\r\n" + written[5], *written[6:-1]]
    assert len(lines) == 6
    for mine, theirs in zip(input_records(), lines, strict=True):
        assert theirs.startswith(mine + b";"), (mine, theirs)
    rows = records(out, ";")
    assert rows[0][:9] == [
        "Record ID",
        "First Name",
        "Last Name",
        "Email ",  # as written
        "Phone Number",
        "Company Name",
        "Script",
        "",  # the two unnamed columns, kept
        "",
    ]
    assert rows[0][9:12] == ["argil_row_key", "argil_video_id", "argil_status"]
    # Row N of the output is row N of the input: the blank row stays, with no result.
    assert rows[3] == [""] * 20
    assert [row[0] for row in rows[1:]] == ["1001", "1002", "", "1003", "1004"]
    assert all(row[11] == "IDLE" for row in (rows[1], rows[2], rows[4], rows[5]))
    # The user's cells, never quoted: a phone number, a script that starts like a list.
    assert rows[1][4] == "+49 050 3530829"
    assert rows[2][6] == "- bullet: a script that starts like a list"
    assert rows[5][4] == "@home" and rows[5][6] == "=not a formula, a script"
    assert b'"Dupont"' in lines[2]  # quoted in the input, quoted in the output


def test_rows_selects_the_row_the_user_sees_after_a_blank_row(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = copy(HUBSPOT, tmp_path)
    config = write(tmp_path, "hubspot.yaml", HUBSPOT_CONFIG)
    result = cli("run", str(source), "-c", str(config), "--sandbox", "--no-progress", "--rows", "5")
    assert result.exit_code == 0, result.output
    rows = records(tmp_path / "hubspot_contacts.sandbox.argil.csv", ";")
    assert (rows[4][0], rows[4][11]) == ("1003", "IDLE")  # row 5 is Ana's, and got her video
    assert [rows[n][11] for n in (1, 2, 5)] == ["NOT_RUN"] * 3
    assert rows[3] == [""] * 20


# --- 8. the output's suffix decides the delimiter ------------------------------------------


def test_a_tsv_output_of_a_csv_input_is_tab_separated(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = copy(HUBSPOT, tmp_path)
    config = write(tmp_path, "hubspot.yaml", HUBSPOT_CONFIG)
    out = tmp_path / "out.tsv"
    result = cli(
        "run", str(source), "-c", str(config), "--sandbox", "--no-progress", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == f"Output: {out} (CSV, cp1252, tab-separated)"
    rows = records(out, "\t")
    assert rows[0][:4] == ["Record ID", "First Name", "Last Name", "Email "]
    assert rows[1][4] == "+49 050 3530829" and rows[3] == [""] * 20
    assert read_sheet(out).delimiter == "\t"


# --- 9. an error cell is said, where it is --------------------------------------------------


def test_validate_says_the_lookup_found_nothing(tmp_path: Path, cli: Callable[..., Result]) -> None:
    config = write(tmp_path, "planner.yaml", PLANNER_CONFIG)
    result = cli("validate", str(PLANNER), "-c", str(config))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[:-1] == [
        "row 6: column E (Avatar): the cell holds the error #N/A (a formula that found nothing?)"
    ]
    assert lines[-1].startswith("5 rows: 4 valid, 1 invalid, 0 skipped; ")
