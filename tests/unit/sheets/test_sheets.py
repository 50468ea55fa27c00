"""Tests of reading awkward sheets and writing the output sheet, on real files."""

from __future__ import annotations

import csv
import errno
import hashlib
import importlib.util
import io
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import SHEETS

from pipeline.sheets import (
    OUTPUT_COLUMNS,
    Row,
    Sheet,
    SheetError,
    csv_input,
    default_output_path,
    output,
    output_kind,
    read_sheet,
    write_output,
)


def fx(name: str) -> Path:
    return SHEETS / name


def values(sheet: Sheet) -> list[tuple[int, dict[str, str]]]:
    return [(row.number, row.values) for row in sheet.rows]


def sheet_error(call: Callable[[], Any]) -> str:
    """The message of the SheetError ``call`` raises, checked to be one line."""
    with pytest.raises(SheetError) as info:
        call()
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def load_make_fixtures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_fixtures", SHEETS / "make_fixtures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- fixtures stay in sync with their script --------------------------------------------


def test_checked_in_fixtures_match_their_script(tmp_path: Path) -> None:
    written = load_make_fixtures().make_all(tmp_path)
    assert len(written) > 20
    for fresh in written:
        stored = SHEETS / fresh.name
        assert stored.exists(), f"{stored.name} missing: run make_fixtures.py"
        if zipfile.is_zipfile(fresh):
            # Compare parts, not bytes: deflate output may differ between zlib builds.
            with zipfile.ZipFile(fresh) as a, zipfile.ZipFile(stored) as b:
                assert a.namelist() == b.namelist()
                for name in a.namelist():
                    assert a.read(name) == b.read(name), f"{stored.name}:{name} is stale"
        else:
            assert fresh.read_bytes() == stored.read_bytes(), f"{stored.name} is stale"


# --- CSV --------------------------------------------------------------------------------


def test_csv_keeps_text_and_numbers_rows_as_the_spreadsheet_shows_them() -> None:
    sheet = read_sheet(fx("multiline.csv"))
    assert (sheet.kind, sheet.encoding, sheet.delimiter) == ("csv", "utf-8", ",")
    assert sheet.headers == ["sku", "name", "script"]
    assert sheet.sheet_name is None
    assert sheet.notes == []
    # Row 2 holds a cell with a line break; rows 3 and 5 are blank (the second has spaces).
    assert values(sheet) == [
        (2, {"sku": "0042", "name": "Widget, large", "script": "Line one\r\nLine two"}),
        (4, {"sku": "0043", "name": "Gadget", "script": "NA"}),
        (6, {"sku": "0044", "name": "Émile", "script": 'He said "hi"'}),
    ]


def test_rows_above_the_header_keep_the_numbering(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes(b"\n ,\nsku,name\n1,a\n\n2,b\n")
    sheet = read_sheet(path)
    assert sheet.headers == ["sku", "name"]
    assert [row.number for row in sheet.rows] == [4, 6]


def test_cp1252_is_the_fallback_and_says_so() -> None:
    sheet = read_sheet(fx("cp1252.csv"))
    assert sheet.encoding == "cp1252"
    assert values(sheet)[0] == (2, {"name": "José", "city": "Zürich", "note": "€5 “quoted”"})
    assert values(sheet)[1][1]["note"] == "–"
    assert len(sheet.notes) == 1
    assert "cp1252" in sheet.notes[0] and "--encoding" in sheet.notes[0]


def test_a_forced_encoding_wins() -> None:
    sheet = read_sheet(fx("cp1252.csv"), encoding="latin-1")
    assert sheet.encoding == "iso8859-1"
    assert sheet.notes == []
    assert sheet.rows[0].values["name"] == "José"
    assert sheet.rows[0].values["note"].startswith("\x80")  # latin-1 has no euro sign


def test_a_forced_encoding_that_does_not_fit_is_an_error() -> None:
    message = sheet_error(lambda: read_sheet(fx("cp1252.csv"), encoding="utf-8"))
    assert "not valid utf-8" in message and "--encoding" in message and "cp1252.csv" in message
    message = sheet_error(lambda: read_sheet(fx("cp1252.csv"), encoding="klingon"))
    assert "unknown encoding 'klingon'" in message


def test_bytes_neither_utf8_nor_cp1252_are_an_error() -> None:
    message = sheet_error(lambda: read_sheet(fx("bad_encoding.csv")))
    assert "not valid UTF-8 or cp1252" in message
    assert "0x81" in message and "--encoding" in message


def test_a_utf8_bom_is_not_part_of_the_first_header() -> None:
    sheet = read_sheet(fx("utf8_bom.csv"))
    assert sheet.headers == ["email", "first name"]
    assert sheet.encoding == "utf-8-sig"
    assert values(sheet) == [(2, {"email": "ana@example.com", "first name": "Anaïs"})]


def test_excel_unicode_text_export_is_read() -> None:
    sheet = read_sheet(fx("utf16.txt"))
    assert (sheet.encoding, sheet.delimiter) == ("utf-16", "\t")
    assert values(sheet) == [(2, {"name": "José", "city": "Zürich"})]


@pytest.mark.parametrize(
    ("name", "delimiter", "expected"),
    [
        ("semicolon.csv", ";", {"name": "A", "price": "3,50", "city": "Paris"}),
        ("tab.csv", "\t", {"name": "A", "note": "one, two"}),
        ("pipe.csv", "|", {"name": "A", "note": "one, two"}),
        ("one_column.csv", ",", {"script": "Hello, world."}),
    ],
)
def test_the_delimiter_is_detected(name: str, delimiter: str, expected: dict[str, str]) -> None:
    sheet = read_sheet(fx(name))
    assert sheet.delimiter == delimiter
    assert sheet.rows[0].values == expected
    assert len(sheet.rows) == 2


def test_a_forced_delimiter_wins() -> None:
    sheet = read_sheet(fx("pipe.csv"), delimiter=";")
    assert sheet.delimiter == ";"
    assert sheet.headers == ["name|note"]
    assert sheet.rows[0].values == {"name|note": "A|one, two"}
    # Decimal commas split under a forced comma, and the stray cells are reported.
    message = sheet_error(lambda: read_sheet(fx("semicolon.csv"), delimiter=","))
    assert "column 2 has data (row 2) but no header" in message
    assert "cannot be used" in sheet_error(lambda: read_sheet(fx("pipe.csv"), delimiter=";;"))


def test_header_only_is_a_sheet_without_rows() -> None:
    sheet = read_sheet(fx("header_only.csv"))
    assert sheet.headers == ["sku", "name"]
    assert sheet.rows == []


@pytest.mark.parametrize("name", ["empty.csv", "blank_lines.csv"])
def test_an_empty_file_is_an_error(name: str) -> None:
    message = sheet_error(lambda: read_sheet(fx(name)))
    assert "is empty" in message and "header row" in message


def test_a_duplicate_header_is_an_error_naming_it() -> None:
    message = sheet_error(lambda: read_sheet(fx("duplicate_header.csv")))
    assert "header 'name' appears twice (column 2 and column 4)" in message
    assert "rename" in message


def test_a_column_with_data_but_no_header_is_an_error() -> None:
    message = sheet_error(lambda: read_sheet(fx("empty_header.csv")))
    assert "column 2 has data (row 3) but no header" in message


def test_cells_beyond_the_header_are_an_error() -> None:
    message = sheet_error(lambda: read_sheet(fx("extra_cells.csv")))
    assert "column 3 has data (row 3) but no header" in message


def test_trailing_empty_unnamed_columns_are_dropped() -> None:
    sheet = read_sheet(fx("trailing_empty_columns.csv"))
    assert sheet.headers == ["sku", "name"]
    assert values(sheet) == [(2, {"sku": "1", "name": "a"}), (3, {"sku": "2", "name": "b"})]


def test_short_rows_are_padded_with_empty_cells() -> None:
    sheet = read_sheet(fx("short_rows.csv"))
    assert values(sheet) == [(2, {"a": "1", "b": "", "c": ""}), (3, {"a": "2", "b": "3", "c": ""})]


def test_an_unclosed_quote_is_an_error_not_a_swallowed_row() -> None:
    message = sheet_error(lambda: read_sheet(fx("unclosed_quote.csv")))
    assert "row 3" in message and "never closed" in message


def test_a_workbook_named_csv_is_an_error() -> None:
    message = sheet_error(lambda: read_sheet(fx("workbook.csv")))
    assert "is a workbook" in message and "rename it to .xlsx" in message


def test_the_sheet_option_is_noted_but_ignored_for_csv() -> None:
    sheet = read_sheet(fx("pipe.csv"), sheet="Launches")
    assert sheet.sheet_name is None
    assert sheet.notes == ["sheet 'Launches' ignored: a CSV file has a single sheet"]


# --- workbooks --------------------------------------------------------------------------


def test_xlsx_cells_read_as_the_text_excel_shows() -> None:
    sheet = read_sheet(fx("types.xlsx"))
    assert (sheet.kind, sheet.sheet_name, sheet.encoding, sheet.delimiter) == (
        "xlsx",
        "Launches",
        None,
        None,
    )
    rows = dict(values(sheet))
    assert list(rows) == [2, 5, 6]  # row 3 is missing, row 4 only has spaces
    assert rows[2] == {
        "sku": "0042",  # a text cell keeps its leading zeros
        "qty": "5",  # a whole number, not 5.0
        "price": "3.5",
        "launch": "2026-03-01",
        "starts_at": "2026-03-01 14:30:00",
        "total": "17.5",  # a formula gives its cached value
        "label": "A-0042",
        "active": "TRUE",
        "note": "NA",  # not a missing value
        "ratio": "",  # an error cell (#DIV/0!) reads as empty
        "phone": "33612345678",
        "link": '=HYPERLINK("https://example.com","x")',  # a string, not a formula
    }
    assert rows[5]["label"] == "FALSE"
    assert rows[5]["total"] == "1"
    assert rows[5]["note"] == "=1+1"
    assert rows[5]["ratio"] == "-2.25"
    assert rows[5]["launch"] == "1999-12-31"
    assert rows[6]["qty"] == "1e+20"
    assert rows[6]["price"] == "0.333333333333333"  # Excel's 15 significant digits


def test_the_first_sheet_is_read_by_default() -> None:
    sheet = read_sheet(fx("multi_sheet.xlsx"))
    assert sheet.sheet_name == "Leads"
    assert values(sheet) == [
        (2, {"email": "ana@example.com", "first name": "Ana"}),
        (3, {"email": "bo@example.com", "first name": "Bo"}),
    ]


def test_a_hidden_first_sheet_is_skipped_by_default_but_can_be_picked() -> None:
    assert read_sheet(fx("hidden_first.xlsx")).sheet_name == "Leads"
    picked = read_sheet(fx("hidden_first.xlsx"), sheet="Lookup")
    assert values(picked) == [(2, {"code": "x"})]


@pytest.mark.parametrize("wanted", ["Launches", "launches ", "LAUNCHES"])
def test_a_sheet_is_picked_by_name_and_rows_keep_excel_numbers(wanted: str) -> None:
    sheet = read_sheet(fx("multi_sheet.xlsx"), sheet=wanted)
    assert sheet.sheet_name == "Launches"
    # The table starts at B3: the header is row 3, data rows 4 and 6 (5 is blank).
    assert sheet.headers == ["sku", "script"]
    assert values(sheet) == [
        (4, {"sku": "A1", "script": "Hello."}),
        (6, {"sku": "A2", "script": "Bye."}),
    ]


def test_an_unknown_sheet_is_an_error_listing_the_sheets() -> None:
    message = sheet_error(lambda: read_sheet(fx("multi_sheet.xlsx"), sheet="Nope"))
    assert "no sheet 'Nope'" in message
    assert "'Leads', 'Launches', 'Empty'" in message and "--sheet" in message


def test_an_empty_sheet_is_an_error() -> None:
    message = sheet_error(lambda: read_sheet(fx("multi_sheet.xlsx"), sheet="Empty"))
    assert "sheet 'Empty' is empty" in message


def test_xlsm_is_read_like_xlsx() -> None:
    sheet = read_sheet(fx("macro.xlsm"))
    assert (sheet.kind, sheet.sheet_name) == ("xlsm", "Data")
    assert sheet.rows[1].values == {"email": "bo@example.com", "first name": "Bo"}


def test_ods_is_read() -> None:
    sheet = read_sheet(fx("sheet.ods"))
    assert (sheet.kind, sheet.sheet_name) == ("ods", "Products")
    assert values(sheet) == [
        (
            2,
            {
                "sku": "0042",
                "qty": "5",
                "price": "3.5",
                "launch": "2026-03-01",
                "active": "TRUE",
                "note": "NA",
            },
        ),
        (
            4,
            {
                "sku": "0007",
                "qty": "10",
                "price": "0.25",
                "launch": "2026-03-01 09:15:00",
                "active": "FALSE",
                "note": "=1+1",
            },
        ),
    ]


def test_the_encoding_option_is_noted_but_ignored_for_workbooks() -> None:
    sheet = read_sheet(fx("macro.xlsm"), encoding="cp1252")
    assert sheet.notes == ["encoding 'cp1252' ignored: it only applies to CSV files"]


def test_text_named_xlsx_is_an_error_saying_to_rename() -> None:
    message = sheet_error(lambda: read_sheet(fx("text.xlsx")))
    assert "is text, not a .xlsx workbook" in message and "rename it to .csv" in message


def test_random_bytes_named_xlsx_are_an_error() -> None:
    message = sheet_error(lambda: read_sheet(fx("random.xlsx")))
    assert "is not a .xlsx workbook" in message


def test_a_truncated_or_foreign_zip_is_an_error(tmp_path: Path) -> None:
    truncated = tmp_path / "cut.xlsx"
    data = fx("types.xlsx").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    assert "cannot be read as a .xlsx workbook" in sheet_error(lambda: read_sheet(truncated))
    foreign = tmp_path / "photos.xlsx"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("photo.jpg", b"\xff\xd8\xff")
    assert "cannot be read as a .xlsx workbook" in sheet_error(lambda: read_sheet(foreign))
    empty = tmp_path / "empty.ods"
    empty.write_bytes(b"")
    assert "is empty" in sheet_error(lambda: read_sheet(empty))


def test_a_password_protected_workbook_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert "password-protected" in sheet_error(lambda: read_sheet(path))


# --- paths ------------------------------------------------------------------------------


def test_missing_file_folder_and_unknown_types_are_errors(tmp_path: Path) -> None:
    assert "no such file" in sheet_error(lambda: read_sheet(tmp_path / "nope.csv"))
    assert "is a folder" in sheet_error(lambda: read_sheet(tmp_path))
    (tmp_path / "dir.csv").mkdir()
    assert "is a folder" in sheet_error(lambda: read_sheet(tmp_path / "dir.csv"))
    message = sheet_error(lambda: read_sheet(tmp_path / "data.pdf"))
    assert "unsupported file type ('.pdf')" in message and ".xlsx" in message
    assert "save it as .xlsx" in sheet_error(lambda: read_sheet(tmp_path / "old.xls"))


def test_uppercase_suffixes_are_read(tmp_path: Path) -> None:
    path = tmp_path / "LEADS.CSV"
    shutil.copy(fx("pipe.csv"), path)
    assert read_sheet(path).kind == "csv"


@pytest.mark.parametrize("name", sorted(p.name for p in SHEETS.iterdir() if p.suffix != ".py"))
def test_every_fixture_reads_or_fails_with_a_sheet_error(name: str) -> None:
    try:
        sheet = read_sheet(fx(name))
    except SheetError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert sheet.headers
    for row in sheet.rows:
        assert list(row.values) == sheet.headers
        assert all(isinstance(v, str) for v in row.values.values())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".csv", ".xlsx", ".ods", ".txt"]))
def test_arbitrary_bytes_never_escape_as_another_exception(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        read_sheet(path)
    except SheetError as exc:
        assert "\n" not in str(exc)


# --- the line-fed CSV reader reads what a StringIO-fed one does -------------------------

# Characters that end a line for str.splitlines or a text stream, or matter to the csv module.
_AWKWARD = [",", ";", "\t", "|", '"', "\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"]
_awkward_cell = st.lists(
    st.one_of(st.sampled_from(_AWKWARD), st.text(alphabet="aé ", max_size=3)), max_size=5
).map("".join)


def _reference_read(lines: Iterable[str], delimiter: str) -> tuple[list[list[str]], str | None]:
    """The records read, and the csv module's error if it stopped at one."""
    records: list[list[str]] = []
    try:
        records.extend(csv.reader(lines, delimiter=delimiter, strict=True))
    except csv.Error as exc:
        return records, str(exc)
    return records, None


@settings(max_examples=300, deadline=None)
@given(
    grid=st.lists(st.lists(_awkward_cell, min_size=1, max_size=4), min_size=1, max_size=6),
    delimiter=st.sampled_from(csv_input._DELIMITERS),
    newline=st.sampled_from(["\r\n", "\n", "\r"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    final_newline=st.booleans(),
)
def test_the_line_fed_reader_gives_the_records_of_a_stringio_fed_one(
    grid: list[list[str]], delimiter: str, newline: str, quoting: int, final_newline: bool
) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting).writerows(grid)
    text = buffer.getvalue()
    if not final_newline:
        text = text.removesuffix(newline)
    expected = _reference_read(io.StringIO(text, newline=""), delimiter)
    assert _reference_read(csv_input._csv_lines(text), delimiter) == expected
    records, error = expected
    if error is None:
        assert csv_input._csv_records(Path("x.csv"), text, delimiter) == records
    if quoting == csv.QUOTE_ALL:
        # Every cell quoted: nothing is ambiguous, so the grid itself comes back.
        assert records == grid and error is None


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(st.sampled_from([*_AWKWARD, "a", "", " "]), max_size=20).map("".join),
    delimiter=st.sampled_from(csv_input._DELIMITERS),
)
def test_the_line_fed_reader_matches_a_stringio_fed_one_on_any_text(
    text: str, delimiter: str
) -> None:
    # Includes malformed text: the same records before the same error, so row numbers agree.
    assert _reference_read(csv_input._csv_lines(text), delimiter) == _reference_read(
        io.StringIO(text, newline=""), delimiter
    )


def test_bare_cr_line_endings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "old_mac.csv"
    path.write_bytes(b'sku,script\r1,"two\rlines"\r\r3,last')
    sheet = read_sheet(path)
    assert values(sheet) == [
        (2, {"sku": "1", "script": "two\rlines"}),
        (4, {"sku": "3", "script": "last"}),
    ]


def test_a_quoted_cell_with_unicode_line_breaks_stays_one_cell(tmp_path: Path) -> None:
    path = tmp_path / "breaks.csv"
    path.write_text('sku,script\n1,"a\u2028b\x0cc"\n2,d\x85e\n', encoding="utf-8", newline="")
    assert values(read_sheet(path)) == [
        (2, {"sku": "1", "script": "a\u2028b\x0cc"}),
        (3, {"sku": "2", "script": "d\x85e"}),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_an_unclosed_quote_names_its_row(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "unclosed.csv"
    lines = ["sku,script", '1,"fine"', '2,"never closed', "3,lost"]
    path.write_text(newline.join(lines) + newline, encoding="utf-8", newline="")
    assert sheet_error(lambda: read_sheet(path)) == (
        f"{path} row 3: a quoted cell is never closed, so the rest of the file would be one "
        "cell; fix the quotes on that row"
    )


def test_a_cell_longer_than_the_csv_module_default_limit_is_read(tmp_path: Path) -> None:
    limit = csv.field_size_limit()
    path = tmp_path / "long.csv"
    path.write_text(f'sku,notes\n1,"{"z" * 300_000}"\n2,{"y" * 300_000}\n', encoding="utf-8")
    assert [len(row.values["notes"]) for row in read_sheet(path).rows] == [300_000, 300_000]
    assert csv.field_size_limit() == limit  # the process-wide limit is put back


def test_an_unclosed_quote_before_a_long_tail_still_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "unclosed.csv"
    path.write_text('sku,notes\n1,"open\n' + "2,more text\n" * 50_000, encoding="utf-8")
    message = sheet_error(lambda: read_sheet(path))
    assert "row 2: a quoted cell is never closed" in message


def test_reading_100k_rows_keeps_every_row_and_its_number(tmp_path: Path) -> None:
    # How fast is for benchmarks/run.py (validate, 100,000 rows); here, that nothing is lost.
    path = tmp_path / "big.csv"
    script = "Hello there, this is a product video script. " * 6
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sku", "name", "email", "market", "avatar", "voice", "script"])
        writer.writerows(
            [f"{i:06d}", f"Name {i}", f"x{i}@example.com", "FR", "av", "vo", script]
            for i in range(100_000)
        )
    sheet = read_sheet(path)
    assert len(sheet.rows) == 100_000
    assert sheet.rows[-1].number == 100_001 and sheet.rows[-1].values["sku"] == "099999"
    assert [row.number for row in sheet.rows] == list(range(2, 100_002))


# --- output paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_path", "expected"),
    [
        ("in/leads.csv", "in/leads.argil.csv"),
        ("launches.xlsx", "launches.argil.xlsx"),
        ("macro.xlsm", "macro.argil.xlsm"),
        ("sheet.ods", "sheet.argil.xlsx"),
        ("export.tsv", "export.argil.tsv"),
        ("export.txt", "export.argil.csv"),
        ("LEADS.CSV", "LEADS.argil.CSV"),
    ],
)
def test_default_output_path(given_path: str, expected: str) -> None:
    assert default_output_path(Path(given_path)) == Path(expected)


def test_output_kind() -> None:
    assert output_kind(Path("a.csv")) == "csv"
    assert output_kind(Path("a.TSV")) == "csv"
    assert output_kind(Path("a.xlsx")) == "xlsx"
    for bad in ("a.ods", "a.json", "a"):
        message = sheet_error(partial(output_kind, Path(bad)))
        assert ".csv, .tsv, .xlsx or .xlsm" in message


# --- writing ----------------------------------------------------------------------------

RESULT = {
    "argil_row_key": "k-2",
    "argil_video_id": "vid-1",
    "argil_status": "IDLE",
    "argil_error": "",
    "argil_moments": "2",
    "argil_preview_url": "",
    "argil_video_url": "",
    "argil_updated_at": "2026-03-01T10:00:00Z",
    "argil_duration": "",
    "argil_credits": "",
    "argil_file": "",
}


def make_sheet(tmp_path: Path, text: str, name: str = "in.csv") -> Sheet:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return read_sheet(path)


def test_csv_output_round_trips(tmp_path: Path) -> None:
    source = tmp_path / "leads.csv"
    shutil.copy(fx("multiline.csv"), source)
    sheet = read_sheet(source)
    before = digest(source)
    out = tmp_path / "leads.argil.csv"
    write_output(
        sheet, {2: RESULT, 6: {"argil_status": "FAILED", "argil_error": "bad avatar"}}, out
    )
    assert digest(source) == before
    back = read_sheet(out)
    assert back.headers == [*sheet.headers, *OUTPUT_COLUMNS]
    assert (back.delimiter, back.encoding) == (",", "utf-8")
    blank = dict.fromkeys(OUTPUT_COLUMNS, "")
    assert [row.values for row in back.rows] == [
        {**sheet.rows[0].values, **RESULT},
        {**sheet.rows[1].values, **blank},
        {**sheet.rows[2].values, **blank, "argil_status": "FAILED", "argil_error": "bad avatar"},
    ]
    assert out.read_bytes().startswith(b"sku,name,script,argil_row_key,")
    assert (out.stat().st_mode & 0o777) == (0o666 & ~_umask())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_csv_output_keeps_the_delimiter_and_the_bom(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    write_output(read_sheet(fx("semicolon.csv")), {}, out)
    assert out.read_bytes().startswith(b"name;price;city;argil_row_key;")
    write_output(read_sheet(fx("utf8_bom.csv")), {}, out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbfemail,first name,")
    write_output(read_sheet(fx("cp1252.csv")), {}, out)
    assert "José".encode("cp1252") in out.read_bytes()  # the input's encoding
    write_output(read_sheet(fx("types.xlsx")), {}, out)
    assert out.read_bytes().startswith(b"sku,qty,")
    tsv = tmp_path / "out.tsv"
    write_output(read_sheet(fx("types.xlsx")), {}, tsv)
    assert tsv.read_bytes().startswith(b"sku\tqty\t")


def test_csv_output_defuses_what_the_tool_writes_and_leaves_the_users_cells(
    tmp_path: Path,
) -> None:
    text = 'a,b,c,d,e,f,g\r\n=1+1,+cmd,-2+3,@SUM(A1),"\tx",-5,+3.5\r\n"\rz",plain,,,,,\r\n'
    sheet = make_sheet(tmp_path, text)
    out = tmp_path / "out.csv"
    answers = {
        2: {"argil_error": '=HYPERLINK("http://evil")', "argil_video_id": "-5"},
        3: {"argil_error": "\rsplit", "argil_preview_url": "@x"},
    }
    for target in (out, tmp_path / "out.tsv"):  # copied records, and rewritten ones
        write_output(sheet, answers, target)
        delimiter = "," if target.suffix == ".csv" else "\t"
        with target.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter=delimiter))
        header = rows[0]
        first = dict(zip(header, rows[1], strict=True))
        # The user's cells are theirs: they come back as they came, formulas or not.
        users = ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "-5", "+3.5"]
        assert [first[k] for k in "abcdefg"] == users
        assert first["argil_error"] == '\'=HYPERLINK("http://evil")'
        assert first["argil_video_id"] == "-5"  # a plain number
        second = dict(zip(header, rows[2], strict=True))
        assert second["a"] == "\rz" and second["b"] == "plain"
        assert second["argil_error"] == "'\rsplit" and second["argil_preview_url"] == "'@x"
    # The CSV output copies the user's records byte for byte, the result cells after them.
    written = out.read_bytes().split(b"\r\n")
    assert written[0].startswith(b"a,b,c,d,e,f,g,argil_row_key,")
    assert written[1].startswith(b'=1+1,+cmd,-2+3,@SUM(A1),"\tx",-5,+3.5,')
    assert written[2].startswith(b'"\rz",plain,,,,,,')


def test_xlsx_output_keeps_awkward_text(tmp_path: Path) -> None:
    text = 'a,b\r\n"line1\r\nline2","  padded  "\r\n"<tag> & ctl","ünï 😀"\r\n'
    sheet = make_sheet(tmp_path, text)
    # No reader lets a control character in (see test_input_bounds), but a Sheet built in
    # Python may hold one, and the writer must not break on it.
    sheet.rows[1].values["a"] = "<tag> & \x01ctl"
    out = tmp_path / "out.xlsx"
    write_output(sheet, {}, out)
    back = read_sheet(out)
    assert back.sheet_name == "Sheet1"
    # A line break in a spreadsheet cell is a line feed: openpyxl writes the CR raw, and XML
    # readers fold CR LF into LF.
    assert back.rows[0].values["a"] == "line1\nline2"
    assert back.rows[0].values["b"] == "  padded  "
    assert back.rows[1].values["a"] == "<tag> & \ufffdctl"  # XML cannot hold \x01
    assert back.rows[1].values["b"] == "ünï 😀"
    ws = openpyxl.load_workbook(out).active
    assert ws["A2"].value == "line1\nline2"


def test_xlsx_refuses_a_cell_longer_than_excel_allows(tmp_path: Path) -> None:
    sheet = make_sheet(tmp_path, "a\r\nx\r\n")
    out = tmp_path / "out.xlsx"
    message = sheet_error(lambda: write_output(sheet, {2: {"argil_error": "e" * 40_000}}, out))
    assert "more than an XLSX cell holds" in message and ".csv" in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "in.csv"]


def test_an_input_column_named_like_an_output_column_is_not_repeated(tmp_path: Path) -> None:
    sheet = make_sheet(tmp_path, "sku,argil_status,argil_video_id\r\n1,DONE,v1\r\n2,DONE,v2\r\n")
    out = tmp_path / "out.csv"
    write_output(sheet, {3: {"argil_status": "FAILED", "argil_video_id": ""}}, out)
    back = read_sheet(out)
    assert back.headers == ["sku", *OUTPUT_COLUMNS]
    assert back.rows[0].values["argil_status"] == "DONE"
    assert back.rows[0].values["argil_video_id"] == "v1"
    assert back.rows[1].values["argil_status"] == "FAILED"
    assert back.rows[1].values["argil_video_id"] == ""


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_writing_over_the_input_is_refused(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"in{suffix}"
    shutil.copy(fx("pipe.csv") if suffix == ".csv" else fx("types.xlsx"), source)
    sheet = read_sheet(source)
    before = digest(source)
    for target in (source, tmp_path / "sub" / ".." / source.name):
        message = sheet_error(partial(write_output, sheet, {}, target))
        assert "is the input file" in message
    link = tmp_path / f"link{suffix}"
    link.symlink_to(source)
    assert "is the input file" in sheet_error(lambda: write_output(sheet, {}, link))
    assert digest(source) == before


def test_writing_to_a_folder_is_refused(tmp_path: Path) -> None:
    sheet = read_sheet(fx("pipe.csv"))
    (tmp_path / "out.csv").mkdir()
    assert "is a folder" in sheet_error(lambda: write_output(sheet, {}, tmp_path / "out.csv"))


def test_a_failed_replace_leaves_no_temp_file_and_the_old_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sheet = read_sheet(fx("pipe.csv"))
    for name in ("out.csv", "out.xlsx"):
        out = tmp_path / name
        out.write_bytes(b"previous")

        def full_disk(src: Any, dst: Any) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(output.os, "replace", full_disk)
        message = sheet_error(partial(write_output, sheet, {2: RESULT}, out))
        monkeypatch.undo()
        assert str(out) in message and "No space left on device" in message
        assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.xlsx"]


def test_a_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.write_bytes(b"")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("running as a user that can write to a read-only folder (root)")
        sheet = read_sheet(fx("pipe.csv"))
        message = sheet_error(lambda: write_output(sheet, {}, folder / "out.csv"))
        assert "cannot write" in message and "Permission denied" in message
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_output_rows_follow_sheet_rows(tmp_path: Path) -> None:
    sheet = Sheet(
        path=tmp_path / "virtual.csv",
        kind="csv",
        headers=["x"],
        rows=[Row(9, {"x": "late"}), Row(2, {"x": "early"})],
        delimiter=",",
    )
    out = tmp_path / "out.csv"
    write_output(sheet, {9: {"argil_status": "DONE"}}, out)
    back = read_sheet(out)
    assert [(r.values["x"], r.values["argil_status"]) for r in back.rows] == [
        ("late", "DONE"),
        ("early", ""),
    ]
