"""The XLSX output on real files: the user's workbook handed back whole, typed result columns,
formula safety, nothing left out that needs a note, and LibreOffice reading the same cells.
test_workbook_whole.py holds what a machine reads of a workbook handed back whole."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference
from support import ROOT

from pipeline.sheets import OUTPUT_COLUMNS, OutputFile, output_notes, read_sheet, write_output

RESULT = {
    "argil_row_key": "k1",
    "argil_video_id": "vid-1",
    "argil_status": "DONE",
    "argil_error": "",
    "argil_moments": "2",
    "argil_preview_url": "https://app.argil.ai/preview/vid-1",
    "argil_video_url": "https://cdn.argil.ai/vid-1.mp4",
    "argil_updated_at": "2026-03-01T14:30:00+00:00",
    "argil_duration": "12.5",
}


def user_workbook(path: Path, *, chart: bool = False) -> Path:
    """Two sheets, a formula, numbers with a format, a width: as a user's workbook has them."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Leads"
    ws.append(["name", "price", "qty", "total", "script"])
    ws.append(["Ann", 9.5, 2, "=B2*C2", "Hello Ann."])
    ws.append(["Bob", 3, 4, "=B3*C3", "Hello Bob."])
    ws.append(["Cy", 1.25, 10, "=B4*C4", "Hello Cy."])
    ws["B2"].number_format = "#,##0.00"
    ws.column_dimensions["E"].width = 42
    other = book.create_sheet("Prices")
    other.append(["plan", "monthly"])
    other.append(["pro", 49])
    other["C1"] = "=SUM(B2:B2)"
    if chart:
        bars = BarChart()
        bars.add_data(Reference(ws, min_col=2, min_row=1, max_row=4), titles_from_data=True)
        ws.add_chart(bars, "H2")
    book.save(path)
    return path


def header_of(ws: openpyxl.worksheet.worksheet.Worksheet) -> list[str]:
    return [cell.value for cell in ws[1]]


def test_a_workbook_comes_back_whole_with_typed_result_columns(tmp_path: Path) -> None:
    source = user_workbook(tmp_path / "leads.xlsx")
    sheet = read_sheet(source)
    out = tmp_path / "leads.argil.xlsx"
    results = {
        2: RESULT,
        3: {"argil_status": "FAILED", "argil_error": "=cmd|' /C calc'!A0"},
        4: {"argil_status": "GENERATING_VIDEO", "argil_video_id": "-v2"},
    }
    assert write_output(sheet, results, out) == []
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Leads", "Prices"]
    ws = book["Leads"]
    header = header_of(ws)
    assert header == ["name", "price", "qty", "total", "script", *OUTPUT_COLUMNS]
    # The user's cells: formulas, numbers, formats and widths kept.
    assert [ws[f"D{r}"].value for r in (2, 3, 4)] == ["=B2*C2", "=B3*C3", "=B4*C4"]
    assert ws["B2"].value == 9.5 and ws["B2"].number_format == "#,##0.00"
    assert ws["C4"].value == 10 and ws["C4"].data_type == "n"
    assert ws.column_dimensions["E"].width == 42
    assert book["Prices"]["B2"].value == 49 and book["Prices"]["C1"].value == "=SUM(B2:B2)"
    # The result columns, typed.
    col = {name: openpyxl.utils.get_column_letter(i + 1) for i, name in enumerate(header)}
    assert ws[f"{col['argil_moments']}2"].value == 2
    assert ws[f"{col['argil_duration']}2"].value == 12.5
    assert ws[f"{col['argil_updated_at']}2"].value == dt.datetime(2026, 3, 1, 14, 30)
    assert "UTC" in ws[f"{col['argil_updated_at']}2"].number_format
    link = ws[f"{col['argil_video_url']}2"]
    assert link.hyperlink is not None and link.hyperlink.target == RESULT["argil_video_url"]
    # Header bold, frozen, filtered; the new columns fitted.
    assert ws[f"{col['argil_status']}1"].font.b
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{col[OUTPUT_COLUMNS[-1]]}4"
    assert ws.column_dimensions[col["argil_preview_url"]].width >= len(RESULT["argil_preview_url"])
    # Statuses coloured: done, failed, still going.
    fills = [ws[f"{col['argil_status']}{r}"].fill.fgColor.rgb for r in (2, 3, 4)]
    assert [fill[-6:] for fill in fills] == ["C6EFCE", "FFC7CE", "FFEB9C"]
    # Text from the API that looks like a formula is text.
    error = ws[f"{col['argil_error']}3"]
    assert error.value == "=cmd|' /C calc'!A0" and error.data_type == "s"
    assert ws[f"{col['argil_video_id']}4"].data_type == "s"


def test_rewrites_update_the_result_columns_only(tmp_path: Path) -> None:
    sheet = read_sheet(user_workbook(tmp_path / "leads.xlsx"))
    out = tmp_path / "out.xlsx"
    output = OutputFile(sheet, out)
    output.write({2: {"argil_status": "GENERATING_VIDEO"}})
    output.write({2: {**RESULT, "argil_status": "PENDING", "argil_video_url": ""}})
    ws = openpyxl.load_workbook(out)["Leads"]
    header = header_of(ws)
    assert header.count("argil_status") == 1
    row = {name: ws.cell(2, i + 1) for i, name in enumerate(header)}
    assert row["argil_status"].value == "PENDING"
    assert row["argil_video_url"].value is None and row["argil_video_url"].hyperlink is None
    assert row["total"].value == "=B2*C2"
    assert output.describe() == "XLSX, the input workbook with the result columns added"


def test_a_previous_output_as_input_keeps_its_result_columns_in_place(tmp_path: Path) -> None:
    first = tmp_path / "first.xlsx"
    write_output(read_sheet(user_workbook(tmp_path / "leads.xlsx")), {2: RESULT}, first)
    sheet = read_sheet(first)
    second = tmp_path / "second.xlsx"
    write_output(sheet, {3: {"argil_status": "DONE"}}, second)
    ws = openpyxl.load_workbook(second)["Leads"]
    header = header_of(ws)
    assert header == ["name", "price", "qty", "total", "script", *OUTPUT_COLUMNS]
    status = header.index("argil_status") + 1
    assert ws.cell(2, status).value == "DONE" and ws.cell(3, status).value == "DONE"
    assert ws.cell(2, header.index("argil_video_id") + 1).value == "vid-1"


def test_charts_and_drawings_come_back_as_they_are_and_need_no_note(tmp_path: Path) -> None:
    source = user_workbook(tmp_path / "charted.xlsx", chart=True)
    sheet = read_sheet(source)
    out = tmp_path / "out.xlsx"
    assert output_notes(sheet, out) == []
    assert write_output(sheet, {2: RESULT}, out) == []
    with zipfile.ZipFile(source) as before, zipfile.ZipFile(out) as after:
        kept = [n for n in before.namelist() if n.startswith(("xl/charts/", "xl/drawings/"))]
        assert kept and all(before.read(n) == after.read(n) for n in kept)
    assert len(openpyxl.load_workbook(out)["Leads"]._charts) == 1
    assert output_notes(read_sheet(user_workbook(tmp_path / "plain.xlsx")), out) == []


def test_a_csv_input_gives_a_fresh_typed_workbook(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "sku,price,qty,note\r\n0042,9.50,5,=1+1\r\n7,12.5,-5,@SUM(A1)\r\n", encoding="utf-8"
    )
    out = tmp_path / "out.xlsx"
    write_output(read_sheet(source), {2: RESULT}, out)
    ws = openpyxl.load_workbook(out).active
    header = header_of(ws)
    assert header == ["sku", "price", "qty", "note", *OUTPUT_COLUMNS]
    second = [cell.value for cell in ws[2]][:4]
    third = [cell.value for cell in ws[3]][:4]
    # A number as it shows becomes a number; anything else stays exactly the text it was.
    assert second == ["0042", "9.50", 5, "=1+1"] and third == [7, 12.5, "-5", "@SUM(A1)"]
    assert ws["D2"].data_type == "s" and ws["D2"].quotePrefix
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:O3" and ws["A1"].font.b
    assert ws.cell(2, header.index("argil_moments") + 1).value == 2
    # And our own reader sees exactly the text that went in.
    back = read_sheet(out)
    assert [r.values["price"] for r in back.rows] == ["9.50", "12.5"]
    assert [r.values["note"] for r in back.rows] == ["=1+1", "@SUM(A1)"]


def test_an_ods_input_says_what_the_output_is() -> None:
    sheet = read_sheet(ROOT / "tests" / "fixtures" / "sheets" / "sheet.ods")
    output = OutputFile(sheet, Path("/tmp/never-written.xlsx"))
    assert output.describe().startswith("XLSX, a new workbook")
    assert "ODS" in output.describe()


def _soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    return found


@pytest.mark.slow
def test_libreoffice_reads_the_cells_openpyxl_reads(tmp_path: Path) -> None:
    soffice = _soffice()
    sheet = read_sheet(user_workbook(tmp_path / "leads.xlsx"))
    out = tmp_path / "out.xlsx"
    write_output(sheet, {2: RESULT, 3: {"argil_error": '=HYPERLINK("x")'}}, out)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",  # comma, quote, UTF-8
            "--outdir",
            str(tmp_path / "lo"),
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    with (tmp_path / "lo" / "out.csv").open(newline="", encoding="utf-8") as f:
        seen = list(csv.reader(f))
    ws = openpyxl.load_workbook(out, data_only=False)["Leads"]
    assert seen[0] == header_of(ws)
    index = seen[0].index
    assert seen[1][index("argil_moments")] == "2"
    assert seen[1][index("argil_video_id")] == "vid-1"
    assert seen[1][index("total")] == "19"  # LibreOffice computed the user's formula
    assert seen[2][index("argil_error")] == '=HYPERLINK("x")'  # text, not run
    assert seen[1][index("argil_updated_at")].startswith("2026-03-01 14:30:00")


def test_an_extension_openpyxl_would_drop_comes_back_as_it_is(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    from xlsx_parts import xlsx_bytes

    extension = (
        '<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}"><x14:dataValidations '
        'count="0"/></ext></extLst>'
    )
    sheet_xml = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
        '<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>Ann</t></is></c></row></sheetData>'
        f"{extension}</worksheet>"
    )
    source = tmp_path / "validated.xlsx"
    source.write_bytes(xlsx_bytes(sheet_xml))
    output = OutputFile(read_sheet(source), tmp_path / "out.xlsx")
    output.write({2: RESULT})
    assert output.notes == []
    with zipfile.ZipFile(tmp_path / "out.xlsx") as archive:
        written = archive.read("xl/worksheets/sheet1.xml").decode()
    assert written.endswith(f"{extension}</worksheet>")
    assert not [w for w in recwarn if "openpyxl" in str(w.filename)]
