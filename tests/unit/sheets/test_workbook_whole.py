"""A workbook comes back whole, as a machine reads it too: the user's cells keep their
formulas and the values last computed (pandas and LibreOffice read them), every part but the
few the result columns need comes back byte for byte, an .xlsm keeps its macros, and the user's
filter spans the result columns. Through runs (the next run reads those values):
tests/e2e/test_workbook_whole.py."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from types import ModuleType

import openpyxl
import pandas
import pytest
from openpyxl.worksheet.table import Table
from support import SHEETS
from xlsx_parts import xlsx_bytes

from pipeline.sheets import OUTPUT_COLUMNS, Row, Sheet, output_notes, read_sheet, write_output
from pipeline.sheets.ooxml import PartError, elements
from pipeline.sheets.xlsx_output import XlsxOutput, carry_over_notes

# README tab first; on Leads a merged title row, the header on row 2, VLOOKUP and CONCAT.
PLANNER = SHEETS / "planner.xlsx"
LEADS_PART = "xl/worksheets/sheet2.xml"
# What the result columns may change; every other part comes back byte for byte.
CHANGED = {
    LEADS_PART,
    "xl/worksheets/_rels/sheet2.xml.rels",
    "xl/styles.xml",
    "xl/workbook.xml",
    "[Content_Types].xml",
}
HEADERS = [
    "email", "first_name", "last_name", "company", "tier", "avatar", "full_name", "script",
    "budget",
]  # fmt: skip


def make_fixtures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_fixtures", SHEETS / "make_fixtures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_formula_values() -> tuple[list[str], list[str]]:
    """The avatar (VLOOKUP) and full name (CONCAT) of each planner row, as Excel shows them."""
    fixtures = make_fixtures()
    leads = fixtures.planner_leads()
    avatars = [fixtures.PLANNER_TIERS[tier][0] for _, _, _, _, tier, _, _ in leads]
    names = [f"{first} {last}" for _, first, last, _, _, _, _ in leads]
    return avatars, names


def results(sheet: Sheet) -> dict[int, dict[str, str]]:
    return {
        row.number: {
            "argil_row_key": f"k{row.number}",
            "argil_video_id": f"v{row.number}",
            "argil_status": "DONE",
            "argil_moments": "1",
            "argil_preview_url": f"https://app.argil.ai/videos/v{row.number}",
            "argil_updated_at": "2026-03-01T14:30:00+00:00",
            "argil_duration": "12.5",
        }
        for row in sheet.rows
    }


def planner_output(tmp_path: Path, name: str = "out.xlsx") -> tuple[Sheet, Path]:
    sheet = read_sheet(PLANNER, sheet="Leads")
    assert sheet.header_row == 2  # under the title row
    out = tmp_path / name
    assert write_output(sheet, results(sheet), out) == []
    return sheet, out


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    return found


def convert(path: Path, to: str, folder: Path) -> Path:
    """``path`` converted by LibreOffice headless (``to``: a filter, as --convert-to takes it)."""
    subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation=file://{folder / 'profile'}",
            "--headless",
            "--convert-to",
            to,
            "--outdir",
            str(folder),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return folder


# --- pandas and LibreOffice read the formulas' values -------------------------------------------


@pytest.mark.parametrize("engine", ["openpyxl", "calamine"])
def test_pandas_reads_the_formulas_values_in_the_output(tmp_path: Path, engine: str) -> None:
    _, out = planner_output(tmp_path)
    frame = pandas.read_excel(out, sheet_name="Leads", header=1, engine=engine)
    assert list(frame.columns) == [*HEADERS, *OUTPUT_COLUMNS]
    avatars, names = expected_formula_values()
    assert list(frame["avatar"]) == avatars
    assert list(frame["full_name"]) == names
    assert set(frame["argil_status"]) == {"DONE"}
    lookup = pandas.read_excel(out, sheet_name="Lookup", engine=engine)
    assert list(lookup["avatar"]) == ["avatar-emma", "avatar-noah", "avatar-lina"]


@pytest.mark.slow
def test_libreoffice_reads_the_formulas_values_and_the_filter(tmp_path: Path) -> None:
    _, out = planner_output(tmp_path)
    # Field 12 of the CSV filter's options picks the sheet (1-based): Leads is the second.
    convert(out, "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,2",
            tmp_path / "csv")  # fmt: skip
    with (tmp_path / "csv" / "out-Leads.csv").open(newline="", encoding="utf-8") as f:
        seen = list(csv.reader(f))
    header = seen[1]
    assert header == [*HEADERS, *OUTPUT_COLUMNS]
    rows = [dict(zip(header, line, strict=True)) for line in seen[2:]]
    avatars, names = expected_formula_values()
    assert [row["avatar"] for row in rows] == avatars
    assert [row["full_name"] for row in rows] == names
    assert {row["argil_status"] for row in rows} == {"DONE"}
    # LibreOffice finds the filter, stretched over the result columns, and keeps it.
    convert(out, "xlsx", tmp_path / "resaved")
    resaved = openpyxl.load_workbook(tmp_path / "resaved" / "out.xlsx")["Leads"]
    assert resaved.auto_filter.ref == "A2:T39"


# --- the workbook's own parts --------------------------------------------------------------


def test_every_part_but_the_result_columns_own_comes_back_byte_for_byte(tmp_path: Path) -> None:
    _, out = planner_output(tmp_path)
    before, after = parts(PLANNER), parts(out)
    assert set(after) == set(before)
    assert {name for name in before if before[name] != after[name]} <= CHANGED
    # In the data sheet, every cell of the user's, formulas and saved values included.
    cell = re.compile(rb'<c r="([A-I][0-9]+)"(?:[^>]*/>|[^>]*>.*?</c>)', re.S)
    users = {m.group(1): m.group() for m in cell.finditer(before[LEADS_PART])}
    assert {m.group(1): m.group() for m in cell.finditer(after[LEADS_PART])} == users
    assert b"<f>VLOOKUP(E3,Lookup!$A$2:$C$4,2,FALSE)</f><v>avatar-emma</v>" in users[b"F3"]
    merged = re.compile(rb"<mergeCells.*?</mergeCells>", re.S)
    assert merged.findall(after[LEADS_PART]) == merged.findall(before[LEADS_PART])


def test_the_users_filter_is_stretched_over_the_result_columns(tmp_path: Path) -> None:
    _, out = planner_output(tmp_path)
    ws = openpyxl.load_workbook(out)["Leads"]
    assert ws.auto_filter.ref == "A2:T39"  # was A2:I39, the input's columns only
    workbook = parts(out)["xl/workbook.xml"].decode()
    assert (
        '<definedName name="_xlnm._FilterDatabase" localSheetId="1" hidden="1">'
        "'Leads'!$A$2:$T$39</definedName>"
    ) in workbook


def test_a_title_row_above_the_header_is_left_as_it_is(tmp_path: Path) -> None:
    _, out = planner_output(tmp_path)
    ws = openpyxl.load_workbook(out)["Leads"]
    assert ws["A1"].value == "Spring campaign: lead planner"
    assert [str(r) for r in ws.merged_cells.ranges] == ["A1:I1"]
    assert [c.value for c in ws[1]][9:] == [None] * 11
    assert [c.value for c in ws[2]] == [*HEADERS, *OUTPUT_COLUMNS]
    assert ws["J2"].font.b and ws.freeze_panes == "A3"
    assert ws["L3"].value == "DONE" and ws["L3"].fill.fgColor.rgb[-6:] == "C6EFCE"
    assert ws["N3"].value == 1 and ws["R3"].value == 12.5


def test_a_re_run_rewrites_its_own_columns_and_keeps_the_users_links(tmp_path: Path) -> None:
    _, first = planner_output(tmp_path, "first.xlsx")
    again = read_sheet(first, sheet="Leads")
    second = tmp_path / "second.xlsx"
    write_output(
        again,
        {
            3: {"argil_status": "FAILED", "argil_preview_url": "https://app.argil.ai/videos/new"},
            4: {"argil_preview_url": "", "argil_error": "=not a formula"},
        },
        second,
    )
    ws = openpyxl.load_workbook(second)["Leads"]
    assert [c.value for c in ws[2]] == [*HEADERS, *OUTPUT_COLUMNS]
    assert ws["D3"].hyperlink is not None
    assert ws["D3"].hyperlink.target == "https://example.com/company-1"  # the user's own
    assert ws["L3"].value == "FAILED" and ws["L3"].fill.fgColor.rgb[-6:] == "FFC7CE"
    assert ws["O3"].hyperlink.target == "https://app.argil.ai/videos/new"
    assert ws["O4"].value is None and ws["O4"].hyperlink is None
    assert ws["M4"].value == "=not a formula" and ws["M4"].data_type == "s"
    assert ws["O5"].hyperlink.target == "https://app.argil.ai/videos/v5"  # kept as it was
    # One relationship per link, whatever the number of runs: ids are reused, not added.
    first_rels = parts(first)["xl/worksheets/_rels/sheet2.xml.rels"]
    second_rels = parts(second)["xl/worksheets/_rels/sheet2.xml.rels"]
    assert second_rels.count(b"<Relationship ") == first_rels.count(b"<Relationship ") - 1
    assert parts(second)["xl/styles.xml"] == parts(first)["xl/styles.xml"]


# --- macros -----------------------------------------------------------------------------------


def test_an_xlsm_comes_back_with_its_macros_byte_for_byte(tmp_path: Path) -> None:
    source = SHEETS / "macro_project.xlsm"
    sheet = read_sheet(source)
    out = tmp_path / "out.xlsm"
    with out.open("wb") as f:
        XlsxOutput(sheet, out).write({2: {"argil_status": "DONE"}}, f)
    before, after = parts(source), parts(out)
    assert after["xl/vbaProject.bin"] == before["xl/vbaProject.bin"]
    assert b"macroEnabled.main+xml" in after["[Content_Types].xml"]
    assert b"vbaProject" in after["xl/_rels/workbook.xml.rels"]
    assert carry_over_notes(sheet, out) == []
    assert read_sheet(out).rows[0].values["argil_status"] == "DONE"
    # A workbook without macros written as .xlsm is typed as one, or Excel refuses the file.
    plain = tmp_path / "plain.xlsm"
    with plain.open("wb") as f:
        XlsxOutput(read_sheet(SHEETS / "types.xlsx"), plain).write({}, f)
    assert b"macroEnabled.main+xml" in parts(plain)["[Content_Types].xml"]


# The fixture's minimal styles part has no "Normal" style, which openpyxl notes when loading.
@pytest.mark.filterwarnings("ignore:Workbook contains no default style")
def test_an_xlsm_written_as_xlsx_leaves_its_macros_out_and_says_so(tmp_path: Path) -> None:
    source = SHEETS / "macro_project.xlsm"
    sheet = read_sheet(source)
    out = tmp_path / "out.xlsx"
    [note] = output_notes(sheet, out)
    assert note.startswith("macro_project.xlsm has macros, which an .xlsx workbook cannot hold")
    write_output(sheet, {2: {"argil_status": "DONE"}}, out)
    after = parts(out)
    # Excel refuses to open an .xlsx that declares macros: none are left, nor any trace.
    assert "xl/vbaProject.bin" not in after
    assert b"macroEnabled" not in after["[Content_Types].xml"]
    assert b"vbaProject" not in after["xl/_rels/workbook.xml.rels"]
    assert openpyxl.load_workbook(out).active["C1"].value == "argil_row_key"
    assert read_sheet(out).rows[0].values["argil_status"] == "DONE"


# --- what a workbook may hold -----------------------------------------------------------------


@pytest.mark.slow
def test_a_workbook_saved_by_libreoffice_comes_back_whole_without_a_note(tmp_path: Path) -> None:
    convert(PLANNER, "xlsx", tmp_path / "saved")
    source = tmp_path / "saved" / "planner.xlsx"
    sheet = read_sheet(source, sheet="Leads")
    out = tmp_path / "out.xlsx"
    # LibreOffice writes a drawing part for each sheet, empty: nothing to warn about.
    assert any(name.startswith("xl/drawings/") for name in parts(source))
    assert output_notes(sheet, out) == []
    assert write_output(sheet, results(sheet), out) == []
    before, after = parts(source), parts(out)
    assert {name for name in before if before.get(name) != after.get(name)} <= CHANGED
    back = read_sheet(out, sheet="Leads")
    avatars, names = expected_formula_values()
    assert [row.values["avatar"] for row in back.rows] == avatars
    assert [row.values["full_name"] for row in back.rows] == names
    assert not [note for note in back.notes if "no saved value" in note]


def test_a_table_that_ends_at_the_last_column_takes_the_result_columns(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Leads"
    ws.append(["email", "script"])
    ws.append(["a@example.com", "Hello."])
    ws.append(["b@example.com", "Bye."])
    ws.add_table(Table(displayName="Leads", ref="A1:B3"))
    source = tmp_path / "table.xlsx"
    book.save(source)
    out = tmp_path / "out.xlsx"
    sheet = read_sheet(source)
    write_output(sheet, {2: {"argil_status": "DONE"}}, out)
    ws = openpyxl.load_workbook(out)["Leads"]
    table = ws.tables["Leads"]
    assert table.ref == "A1:M3"
    assert [c.name for c in table.tableColumns] == ["email", "script", *OUTPUT_COLUMNS]
    assert not ws.auto_filter.ref  # the table filters; a sheet filter would clash with it
    assert read_sheet(out).rows[0].values["argil_status"] == "DONE"


def test_a_1904_workbook_gets_its_dates_right(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    book.active.append(["email"])
    book.active.append(["a@example.com"])
    source = tmp_path / "mac.xlsx"
    book.save(source)
    out = tmp_path / "out.xlsx"
    write_output(read_sheet(source), {2: {"argil_updated_at": "2026-03-01T14:30:00Z"}}, out)
    back = read_sheet(out)
    assert back.rows[0].values["argil_updated_at"] == "2026-03-01 14:30:00"


def test_odd_but_valid_sheet_xml_is_written_into_where_it_belongs(tmp_path: Path) -> None:
    """A prefixed namespace, cells without references, a self-closed row a Python-built sheet
    names, a row the part lacks, spans, a range of columns over the new ones, a pane."""
    main_ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    sheet_xml = (
        f'<x:worksheet xmlns:x="{main_ns}"><x:sheetViews><x:sheetView workbookViewId="0">'
        '<x:pane xSplit="1" topLeftCell="B1" activePane="topRight" state="frozen"/>'
        "</x:sheetView></x:sheetViews><x:cols>"
        '<x:col min="1" max="1" width="30" customWidth="1"/>'
        '<x:col min="2" max="1024" width="9"/></x:cols><x:sheetData>'
        '<x:row r="1" spans="1:2"><x:c t="inlineStr"><x:is><x:t>name</x:t></x:is></x:c>'
        '<x:c t="inlineStr"><x:is><x:t>script</x:t></x:is></x:c></x:row>'
        '<x:row r="2" spans="1:2"><x:c t="inlineStr"><x:is><x:t>Ann</x:t></x:is></x:c>'
        '<x:c t="inlineStr"><x:is><x:t>Hi</x:t></x:is></x:c></x:row>'
        '<x:row r="3" ht="30" customHeight="1"/>'
        "</x:sheetData></x:worksheet>"
    )
    source = tmp_path / "odd.xlsx"
    source.write_bytes(xlsx_bytes(sheet_xml))
    read = read_sheet(source)
    sheet = dataclasses.replace(
        read,
        rows=[*read.rows, Row(3, {"name": "", "script": ""}), Row(5, {"name": "", "script": ""})],
    )
    out = tmp_path / "out.xlsx"
    write_output(
        sheet,
        {2: {"argil_status": "DONE"}, 3: {"argil_status": "x"}, 5: {"argil_status": "y"}},
        out,
    )
    xml = parts(out)["xl/worksheets/sheet1.xml"].decode()
    assert xml.count("<x:pane ") == 1  # the user's pane stays the only one
    assert '<x:row r="1" spans="1:13">' in xml and '<x:row r="2" spans="1:5">' in xml
    assert '<x:row r="3" ht="30" customHeight="1"><x:c r="E3" t="inlineStr">' in xml
    assert '<x:row r="5"><x:c r="E5" t="inlineStr"><x:is><x:t>y</x:t></x:is></x:c></x:row>' in xml
    widths = re.findall(r'<x:col min="(\d+)" max="(\d+)"', xml)
    assert widths[0] == ("1", "1") and widths[1] == ("2", "2") and widths[-1] == ("14", "1024")
    assert [low for low, _ in widths] == sorted((low for low, _ in widths), key=int)
    ws = openpyxl.load_workbook(out).active
    assert [c.value for c in ws[1]][:4] == ["name", "script", "argil_row_key", "argil_video_id"]
    assert ws["E2"].value == "DONE" and ws["A2"].value == "Ann"
    assert ws.column_dimensions["B"].width == 9 and ws.row_dimensions[3].height == 30


# --- refusals -------------------------------------------------------------------------------


def test_no_dtd_is_read() -> None:
    with pytest.raises(PartError, match="DTD"):
        elements(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
