"""The sheet as the user made it (issue 22): a HubSpot contacts export (cp1252, semicolons,
CRLF, accents, a blank row, two unnamed columns, a header with a trailing space) and a campaign
planner workbook (a README tab first, a merged title above the header, VLOOKUP and CONCAT
formulas, one lookup that found nothing, a lookup tab). Real files, through the library."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from support import SHEETS

from pipeline.config import ConfigError, load_config
from pipeline.sheets import OUTPUT_COLUMNS, CellError, SheetError, read_sheet, write_output

HUBSPOT = SHEETS / "hubspot_contacts.csv"
PLANNER = SHEETS / "campaign_planner.xlsx"

TITLE_NOTE = (
    "header found on row 2, under a title row; if it is elsewhere, set input.header_row in "
    "the config"
)
NA_ERROR = "row 6, column E (Avatar): the cell holds the error #N/A (a formula that found nothing?)"


PLANNER_CONFIG = """\
input:
  namespace: q3-outreach
  sheet: Leads
  key: [Email]
video:
  name: "Video for {{ full_name }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: "{{ avatar }}"
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def records(path: Path, delimiter: str, encoding: str = "cp1252") -> list[list[str]]:
    with path.open(newline="", encoding=encoding) as f:
        return list(csv.reader(f, delimiter=delimiter))


# --- 4. a title row above the header -------------------------------------------------------


def test_a_title_row_above_the_header_is_passed_over_and_said() -> None:
    sheet = read_sheet(PLANNER, sheet="Leads")
    assert sheet.header_row == 2
    assert sheet.headers == [
        "Email",
        "First name",
        "Last name",
        "Region",
        "Avatar",
        "Full name",
        "Script",
    ]
    assert [row.number for row in sheet.rows] == [3, 4, 5, 6, 7]
    assert sheet.rows[0].values["Avatar"] == "av-3d02"  # VLOOKUP's saved value
    assert sheet.rows[0].values["Full name"] == "Maya Chen"  # CONCAT's
    assert sheet.notes == [TITLE_NOTE]


def test_a_csv_title_row_is_passed_over_and_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(b"Leads export (May)\r\nname,script\r\nAna,Hello Ana.\r\nBo,Hello Bo.\r\n")
    sheet = read_sheet(path)
    assert (sheet.header_row, sheet.headers) == (2, ["name", "script"])
    assert [row.number for row in sheet.rows] == [3, 4]
    assert sheet.notes == [TITLE_NOTE]
    out = tmp_path / "out.csv"
    write_output(sheet, {4: {"argil_status": "DONE"}}, out)
    lines = out.read_bytes().split(b"\r\n")
    assert lines[0] == b"Leads export (May)"
    assert lines[1].startswith(b"name,script,argil_row_key,")
    assert lines[3].startswith(b"Bo,Hello Bo.,,,DONE,")


@pytest.mark.parametrize(
    "text",
    [
        "script\nHello there.\nSecond one\nThird\n",  # one column: its first row is the header
        "Notes\nsku\n1\n",  # lone cells all the way down: a one-column sheet
        "name,script\nAna,Hi\n",  # no lone cell above
    ],
)
def test_a_sheet_without_a_title_keeps_its_first_row_as_header(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "s.csv", text)
    first = next(line for line in text.splitlines() if line)
    sheet = read_sheet(path)
    assert sheet.header_row == 1 and sheet.headers == first.split(",")
    assert sheet.notes == []


def test_a_lone_cell_over_data_is_not_taken_for_a_title(tmp_path: Path) -> None:
    # The second row starts like numbers: data, not names; the sheet reads as before.
    path = write(tmp_path, "s.csv", "script\n1,2\n")
    with pytest.raises(SheetError, match=r"column 2 has data \(row 2\) but no header"):
        read_sheet(path)


def test_input_header_row_says_where_the_header_is(tmp_path: Path) -> None:
    # Two title rows, the second of two cells: the guess takes it for the header.
    path = write(
        tmp_path,
        "plan.csv",
        "Q3 planner\nOwner: Jo,Updated: May\nname,script\nAna,Hello Ana.\n\nBo,Hello Bo.\n",
    )
    assert read_sheet(path).headers == ["Owner: Jo", "Updated: May"]
    sheet = read_sheet(path, header_row=3)
    assert (sheet.header_row, sheet.headers, sheet.notes) == (3, ["name", "script"], [])
    assert [row.number for row in sheet.rows] == [4, 6]
    out = tmp_path / "out.csv"
    write_output(sheet, {6: {"argil_status": "DONE"}}, out)
    lines = out.read_bytes().split(b"\n")
    assert lines[:2] == [b"Q3 planner", b"Owner: Jo,Updated: May"]
    assert lines[2].startswith(b"name,script,argil_row_key,")
    assert lines[4] == b",,,,,,,,,,,,"  # the blank row 5, in its place
    assert lines[5].startswith(b"Bo,Hello Bo.,,,DONE,")
    assert read_sheet(PLANNER, sheet="Leads", header_row=2).notes == []


@pytest.mark.parametrize(
    ("header_row", "message"),
    [
        (5, "row 5 is blank, but input.header_row puts the header there; set it to the row"),
        (9, "has no row 9, where input.header_row puts the header; set it to the row"),
        (0, "input.header_row is 0; rows are numbered from 1"),
    ],
)
def test_a_header_row_that_holds_no_header_is_an_error(
    tmp_path: Path, header_row: int, message: str
) -> None:
    path = write(tmp_path, "plan.csv", "Q3 planner\nname,script\nAna,Hi\n\n\nBo,Hi\n")
    with pytest.raises(SheetError) as info:
        read_sheet(path, header_row=header_row)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_config_takes_input_header_row(tmp_path: Path) -> None:
    config = write(
        tmp_path, "c.yaml", PLANNER_CONFIG.replace("  sheet: Leads\n", "  header_row: 2\n")
    )
    assert load_config(config).input.header_row == 2
    bad = write(
        tmp_path, "bad.yaml", PLANNER_CONFIG.replace("  sheet: Leads\n", "  header_row: 0\n")
    )
    with pytest.raises(ConfigError, match=r"input\.header_row: must be at least 1, got 0"):
        load_config(bad)


# --- 6, 7. the user's cells come back as they came -----------------------------------------


def test_the_export_reads_with_its_rows_numbered_as_the_sheet_shows_them() -> None:
    sheet = read_sheet(HUBSPOT)
    assert (sheet.encoding, sheet.delimiter) == ("cp1252", ";")
    # Names are trimmed for templates ({{ email }}); the output writes them as they are.
    assert sheet.headers == [
        "Record ID",
        "First Name",
        "Last Name",
        "Email",
        "Phone Number",
        "Company Name",
        "Script",
    ]
    assert [row.number for row in sheet.rows] == [2, 3, 5, 6]
    assert sheet.rows[2].values["First Name"] == "Ana"


def test_the_tool_guards_its_own_cells_only(tmp_path: Path) -> None:
    sheet = read_sheet(HUBSPOT)
    out = tmp_path / "out.csv"
    write_output(sheet, {2: {"argil_error": "-refused: =bad", "argil_video_id": "+v"}}, out)
    rows = records(out, ";")
    assert rows[1][4] == "+49 050 3530829"
    assert (rows[1][12], rows[1][10]) == ("'-refused: =bad", "'+v")


def test_a_previous_output_as_input_keeps_the_users_cells_too(tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    write_output(read_sheet(HUBSPOT), {2: {"argil_status": "IDLE"}}, first)
    again = tmp_path / "again.csv"
    write_output(read_sheet(first), {2: {"argil_status": "DONE"}}, again)
    rows = records(again, ";")
    assert rows[0][:9] == records(first, ";")[0][:9]
    assert rows[1][4] == "+49 050 3530829" and rows[1][11] == "DONE"
    assert rows[3] == [""] * 20 and len(rows) == 6


def test_a_blank_line_and_a_short_row_keep_their_place_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"a,b,\n1,2,\n\n3\n")
    out = tmp_path / "out.csv"
    write_output(read_sheet(path), {4: {"argil_status": "DONE"}}, out)
    lines = out.read_bytes().split(b"\n")
    assert lines[0] == b"a,b,," + ",".join(OUTPUT_COLUMNS).encode()
    assert lines[1] == b"1,2," + b"," * 11
    assert lines[2] == b"," * 13  # the blank line: a row of empty cells, in place
    assert lines[3] == b"3" + b"," * 5 + b"DONE" + b"," * 8  # padded to the table's width
    assert [len(row) for row in records(out, ",", "utf-8")] == [14] * 4


# --- 8. the output's suffix decides the delimiter ------------------------------------------


def test_a_csv_output_keeps_the_input_delimiter_or_takes_a_comma(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    write_output(read_sheet(HUBSPOT), {}, out)
    assert out.read_bytes().startswith(b"Record ID;First Name;")
    tsv_input = tmp_path / "in.tsv"
    tsv_input.write_bytes(b"name\tscript\nAna\tHi, there\n")
    write_output(read_sheet(tsv_input), {}, out)
    assert out.read_bytes().startswith(b"name\tscript\targil_row_key\t")
    write_output(read_sheet(PLANNER, sheet="Leads"), {}, out)
    assert out.read_bytes().startswith(b"Campaign planner: Q3 outreach,,,,,,\r\nEmail,First name,")


# --- 9. an error cell is said, where it is --------------------------------------------------


def test_an_error_cell_is_named_with_its_row_and_column() -> None:
    sheet = read_sheet(PLANNER, sheet="Leads")
    [error] = sheet.cell_errors[6]
    assert error == CellError(row=6, column=4, header="Avatar", code="#N/A")
    assert str(error) == NA_ERROR
    assert error.message == NA_ERROR.removeprefix("row 6, ")
    assert list(sheet.cell_errors) == [6]
    # It still reads as blank: nothing of it is ever sent.
    assert sheet.rows[3].values["Avatar"] == ""
    [divided] = read_sheet(SHEETS / "types.xlsx").cell_errors[2]
    assert (
        str(divided)
        == "row 2, column J (ratio): the cell holds the error #DIV/0! (a division by zero)"
    )


def test_an_error_in_a_csv_is_text(tmp_path: Path) -> None:
    path = write(tmp_path, "s.csv", "name,avatar\nAna,#N/A\n")
    sheet = read_sheet(path)
    assert sheet.rows[0].values["avatar"] == "#N/A" and sheet.cell_errors == {}


def test_a_new_workbook_keeps_blank_rows_unnamed_columns_and_headers_as_written(
    tmp_path: Path,
) -> None:
    from openpyxl import load_workbook

    from pipeline.sheets import write_output

    path = tmp_path / "leads.csv"
    path.write_bytes(b"Email ,script,,\r\na@x.test,Hello,,\r\n,,,\r\nb@x.test,Hi,,\r\n")
    sheet = read_sheet(path)
    write_output(
        sheet, {2: {"argil_status": "IDLE"}, 4: {"argil_status": "DONE"}}, tmp_path / "o.xlsx"
    )
    table = [
        [cell.value for cell in row]
        for row in load_workbook(tmp_path / "o.xlsx").active.iter_rows()
    ]
    assert table[0][:5] == ["Email ", "script", None, None, "argil_row_key"]
    assert table[1][:4] == ["a@x.test", "Hello", None, None]
    assert all(value is None for value in table[2]), "the blank row stays row 3"
    assert table[3][:4] == ["b@x.test", "Hi", None, None]
    status = table[0].index("argil_status")
    assert (table[1][status], table[3][status]) == ("IDLE", "DONE")
