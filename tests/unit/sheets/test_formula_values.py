"""Workbooks written by scripts hold formulas without a saved value: they read as blank, with a
note once per column and the fix; an output keeps the saved values for the next run."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from support import SHEETS
from xlsx_parts import xlsx_parts

from pipeline.sheets import read_sheet, write_output


def scripted_workbook(path: Path) -> Path:
    """As openpyxl writes it: the greeting is a formula with no saved value."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["email", "name", "greeting", "script", "total"])
    for n in range(2, 9):
        ws.append([f"l{n}@example.com", f"Lead {n}", f'="Hi "&B{n}&"!"', "Welcome.", 3])
    ws["E2"] = "=1+2"
    book.save(path)
    return path


def test_formulas_without_a_saved_value_are_named_once_per_column(tmp_path: Path) -> None:
    sheet = read_sheet(scripted_workbook(tmp_path / "leads.xlsx"))
    assert sheet.rows[0].values["greeting"] == ""  # what any reader sees: no value saved
    greeting, total = sheet.notes
    assert greeting.startswith("'greeting' (column C): 7 formulas have no saved value")
    assert "rows 2, 3, 4, 5, 6 and 2 more" in greeting and "so they read as blank" in greeting
    assert "open it in Excel or LibreOffice, save it" in greeting
    assert total.startswith("'total' (column E): 1 formula has no saved value (row 2)")


def test_saved_values_and_empty_text_results_are_not_flagged(tmp_path: Path) -> None:
    sheet_xml = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>greeting</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>Ann</t></is></c>'
        '<c r="B2" t="str"><f>"Hi "&amp;A2</f><v>Hi Ann</v></c></row>'
        '<row r="3"><c r="A3" t="inlineStr"><is><t>Bob</t></is></c>'
        '<c r="B3" t="str"><f>IF(A3="Bob","","x")</f><v></v></c></row>'
        "</sheetData></worksheet>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in xlsx_parts("Sheet1"):
            archive.writestr(name, content)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    path = tmp_path / "saved.xlsx"
    path.write_bytes(buffer.getvalue())
    sheet = read_sheet(path)
    assert [row.values["greeting"] for row in sheet.rows] == ["Hi Ann", ""]
    assert sheet.notes == []


@pytest.mark.slow
def test_the_fix_works_a_workbook_saved_by_libreoffice_reads_whole(tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    source = scripted_workbook(tmp_path / "leads.xlsx")
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path / "saved"),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    sheet = read_sheet(tmp_path / "saved" / "leads.xlsx")
    assert sheet.notes == []
    assert sheet.rows[0].values["greeting"] == "Hi Lead 2!"
    # And it lasts: the run's output keeps the saved values for the run after it.
    out = tmp_path / "leads.argil.xlsx"
    write_output(sheet, {2: {"argil_status": "DONE"}}, out)
    again = read_sheet(out)
    assert again.notes == []
    assert [r.values["greeting"] for r in again.rows] == [r.values["greeting"] for r in sheet.rows]


def test_an_output_keeps_the_saved_values_so_the_next_run_reads_them(tmp_path: Path) -> None:
    sheet = read_sheet(SHEETS / "types.xlsx")  # B2*C2 saved as 17.5, "A-"&A2 as A-0042, ...
    out = tmp_path / "types.argil.xlsx"
    write_output(sheet, {2: {"argil_status": "DONE"}}, out)
    back = read_sheet(out)
    assert back.notes == []
    formulas = ("total", "label")
    assert [[r.values[c] for c in formulas] for r in back.rows] == [
        [r.values[c] for c in formulas] for r in sheet.rows
    ]
    assert back.rows[0].values["total"] == "17.5" and back.rows[0].values["label"] == "A-0042"
