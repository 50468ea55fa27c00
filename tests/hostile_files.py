"""Files built to break the readers, and the means to read them safely: real sheets and configs
mutated at random, workbooks made by hand around one worksheet part, files built to exhaust
memory (a far cell, ODS repeats, a zip bomb, XML entities), and a reader run in a child process
under an address-space limit, so that a reader that would abort or swap cannot take the test run
with it."""

from __future__ import annotations

import atexit
import csv
import io
import json
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
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from support import ROOT
from xlsx_parts import xlsx_parts

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
    """A test that hangs fails instead (hypothesis' deadline only judges examples that end).

    Autouse: a module that imports it has it for each of its tests."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("hung for 60 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 60)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
# Shared by the modules that fuzz: removed once, when the test run ends.
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)


def write_temp(data: bytes, suffix: str) -> Path:
    """One scratch file per suffix, rewritten by every example (examples run one at a time)."""
    path = _SCRATCH / f"fuzz{suffix}"
    path.write_bytes(data)
    return path


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


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


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
