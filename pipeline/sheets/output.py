"""Writing the output sheet, atomically: the input's rows with the result columns added."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from pipeline.sheets.base import OUTPUT_COLUMNS, Sheet, SheetError
from pipeline.sheets.csv_input import _read_csv
from pipeline.sheets.lines import output_lines, unused_path
from pipeline.sheets.xlsx_output import (
    XLSX_MAX_CELL,
    XLSX_MAX_COLUMNS,
    XLSX_MAX_ROWS,
    XlsxOutput,
    carry_over_notes,
)

_OUTPUT_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx"}


def output_kind(path: Path) -> str:
    """ "csv" or "xlsx", from the output file's suffix."""
    suffix = Path(path).suffix.lower()
    try:
        return _OUTPUT_SUFFIXES[suffix]
    except KeyError:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise SheetError(
            f"cannot write output to {path} ({shown}); name it .csv, .tsv, .xlsx or .xlsm"
        ) from None


def check_output_fits(sheet: Sheet, path: Path) -> None:
    """SheetError when ``sheet`` cannot be written to ``path`` at all, so that a run can say
    so before it sends anything rather than at its last write: an XLSX cell holds at most
    32,767 characters, a sheet 16,384 columns and 1,048,576 rows. The result columns are
    bounded and are not the problem."""
    if output_kind(path) != "xlsx":
        return
    if Path(path).suffix.lower() == ".xlsm" and sheet.kind != "xlsm":
        # A new workbook has no macros, and Excel refuses an .xlsm that is not one.
        raise SheetError(
            f"cannot write output to {path}: an .xlsm output is for a macro workbook input; "
            "name it .xlsx"
        )
    outputs = set(OUTPUT_COLUMNS)
    columns = len([h for h in sheet.headers if h not in outputs]) + len(OUTPUT_COLUMNS)
    instead = unused_path(Path(path).with_suffix(".csv")).name
    hint = f"; write the output as .csv instead (-o {instead})"
    if columns > XLSX_MAX_COLUMNS:
        raise SheetError(f"{columns:,} columns do not fit in an XLSX sheet{hint}")
    if len(sheet.rows) + 1 > XLSX_MAX_ROWS:
        raise SheetError(f"{len(sheet.rows):,} rows do not fit in an XLSX sheet{hint}")
    for row in sheet.rows:
        for header, value in row.values.items():
            if len(value) > XLSX_MAX_CELL:
                raise SheetError(
                    f"row {row.number} {header!r} has {len(value):,} characters, more than an "
                    f"XLSX cell holds ({XLSX_MAX_CELL:,}){hint}"
                )


# The first result columns, which every output of argil-batch has.
_OWN_COLUMNS = frozenset(OUTPUT_COLUMNS[:3])
# An output's header is in its first lines: this much of a CSV is read to find it.
_HEAD_BYTES = 1 << 20
_HEAD_ROWS = 50


def has_result_columns(path: Path) -> bool:
    """Whether the sheet at ``path`` has the ``argil_*`` result columns in its header, as an
    output of argil-batch has: what proves it ours when no state file records writing it.
    False for anything that cannot be read as a sheet."""
    try:
        if output_kind(path) == "xlsx":
            return _workbook_has_result_columns(path)
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES + 1)
    except (OSError, SheetError):
        return False
    if len(head) > _HEAD_BYTES:
        head = head[: head.rfind(b"\n", 0, _HEAD_BYTES) + 1]
    try:
        headers = _read_csv(path, head, encoding=None, delimiter=None).headers
    except (SheetError, UnicodeError, csv.Error):
        return False
    return set(headers) >= _OWN_COLUMNS


def _workbook_has_result_columns(path: Path) -> bool:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True)
    except Exception:  # openpyxl raises many types; all mean "not a workbook it can read"
        return False
    try:
        for sheet in book.worksheets:
            for row in sheet.iter_rows(max_row=_HEAD_ROWS, values_only=True):
                if {str(value) for value in row if value is not None} >= _OWN_COLUMNS:
                    return True
        return False
    except Exception:  # a damaged part of the workbook: not an output we can recognise
        return False
    finally:
        book.close()


def output_notes(sheet: Sheet, path: Path) -> list[str]:
    """What the user should know before the run about the output at ``path``: the parts of
    the input workbook it may not carry over."""
    return carry_over_notes(sheet, path) if output_kind(path) == "xlsx" else []


class OutputFile:
    """The output sheet of ``sheet`` at ``path``, rewritten whole and atomically at each write.

    Every input row and column comes first, unchanged and in place (blank rows, unnamed
    columns, rows above the header, headers as written), then :data:`OUTPUT_COLUMNS` filled
    from ``results[row.number]`` ("" when absent). An input column already named like an
    output column (a previous output used as input) is not repeated: its value is kept when
    ``results`` has none for that row. A workbook input comes back as that workbook with the
    result columns added to its data sheet; a CSV keeps the input's encoding, delimiter, line
    endings and quoting (see :class:`_CsvFormat`).
    The file is written beside ``path`` under a temporary name, synced, then renamed over
    ``path``, so readers never see half a file.
    """

    def __init__(self, sheet: Sheet, path: Path) -> None:
        path = Path(path)
        self.kind = output_kind(path)
        if _same_file(path, sheet.path):
            raise SheetError(f"{path} is the input file; write the output to another path")
        if path.is_dir():
            raise SheetError(f"{path} is a folder; give a file name for the output")
        self.sheet, self.path = sheet, path
        self.notes: list[str] = []
        """Things the user should be told about how the output was written."""
        self._xlsx = XlsxOutput(sheet, path) if self.kind == "xlsx" else None
        self._csv = _CsvFormat(sheet, path) if self.kind == "csv" else None

    def load(self) -> None:
        """Load the input workbook now (it is otherwise loaded at the first write), so that
        one openpyxl cannot load is refused before a run sends anything."""
        if self._xlsx is not None:
            self._xlsx.load()

    def write(self, results: Mapping[int, Mapping[str, str]]) -> None:
        if self._xlsx is not None:
            xlsx = self._xlsx
            _atomic_write(self.path, lambda f: xlsx.write(results, f))
            self.notes.extend(n for n in xlsx.notes if n not in self.notes)
        elif self._csv is not None:
            csv_format = self._csv
            _atomic_write(self.path, lambda f: csv_format.write(f, results))
            if csv_format.note and csv_format.note not in self.notes:
                self.notes.append(csv_format.note)

    def describe(self) -> str:
        """The output's format, in a few words for the run's last lines."""
        if self._csv is not None:
            return self._csv.describe()
        if self._xlsx is not None and self._xlsx.whole:
            return "XLSX, the input workbook with the result columns added"
        if self.sheet.kind == "ods":
            return "XLSX, a new workbook with the sheet's values: ODS is read, not written"
        if self.sheet.kind in ("xlsx", "xlsm"):
            return "XLSX, a new workbook with the data sheet's values"
        return "XLSX, a new workbook"


def write_output(sheet: Sheet, results: Mapping[int, Mapping[str, str]], path: Path) -> list[str]:
    """Write the output sheet once (see :class:`OutputFile`); returns its notes."""
    output = OutputFile(sheet, path)
    output.write(results)
    return output.notes


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    folder = path.parent
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        # os.open with 0o666 lets the umask decide the final permissions, as for any new file
        # (tempfile would leave the output readable by its owner only).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise SheetError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with open(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise SheetError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_folder(folder)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, hence best effort.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# A cell starting with one of these is run as a formula by Excel/LibreOffice when a CSV is
# opened (CSV injection); a plain number such as -5 or +3.2 is not a formula and stays as is.
# Only what the tool writes is guarded: the user's own cells are theirs, a phone number
# "+49 050 3530829" or a script starting "- bullet" included, and go back as they came.
_FORMULA_START = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")


def _defuse(value: str) -> str:
    if value and value[0] in _FORMULA_START and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_LINE_END = re.compile(r"\r\n|\r|\n")


class _CsvFormat:
    """The input's encoding, delimiter, line endings and quoting, kept in the output so that
    Excel opens it the way it opened the input (a cp1252 file read back as UTF-8 shows
    "JÃ¼rgen"), and so that every cell of the user's comes back as it came.

    The delimiter is the output's suffix's when it names one (``.tsv``: tab), else the
    input's for a CSV input, else a comma. When it is the input's, each record of the input
    is copied as the file holds it, and the result cells are added after it: quoting, spaces
    and line endings stay the user's program's. When a value cannot be encoded in the input's
    encoding, the output is UTF-8 with a BOM, which Excel and every other reader recognise,
    and :attr:`note` says so."""

    def __init__(self, sheet: Sheet, path: Path) -> None:
        is_csv = sheet.kind == "csv"
        if path.suffix.lower() == ".tsv":
            delimiter = "\t"
        elif is_csv and sheet.delimiter:
            delimiter = sheet.delimiter
        else:
            delimiter = ","
        self.delimiter = delimiter
        self.encoding = sheet.encoding if is_csv and sheet.encoding else "utf-8"
        self.used = self.encoding
        self.note: str | None = None
        self._sheet = sheet
        self._name = path.name
        layout = sheet.layout
        self._copy = (
            is_csv
            and layout is not None
            and layout.text is not None
            and layout.ends is not None
            and delimiter == sheet.delimiter
            # A previous output used as input: its result columns are rewritten, not copied.
            and not set(OUTPUT_COLUMNS).intersection(sheet.headers)
        )
        self.line_end = _first_line_end(layout.text if layout is not None else None)

    def write(self, f: BinaryIO, results: Mapping[int, Mapping[str, str]]) -> None:
        if self.encoding not in ("utf-8", "utf-8-sig"):
            try:
                self._write(f, results, self.encoding, "strict")
                self.used = self.encoding
                return
            except UnicodeEncodeError as exc:
                char = exc.object[exc.start : exc.start + 1]
                self.note = (
                    f"{self._name} is written as UTF-8 with a BOM, not {self.encoding} like "
                    f"the input: {char!r} (U+{ord(char):04X}) cannot be written in {self.encoding}"
                )
                f.seek(0)
                f.truncate()
            self.used = "utf-8-sig"
        else:
            self.used = self.encoding
        # errors="replace": a stray lone surrogate in a result must not lose the whole output.
        self._write(f, results, self.used, "replace")

    def describe(self) -> str:
        shown = {"utf-8-sig": "UTF-8 with a BOM", "utf-8": "UTF-8"}.get(self.used, self.used)
        name = _DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))
        return f"CSV, {shown}, {name}-separated"

    def _write(
        self, f: BinaryIO, results: Mapping[int, Mapping[str, str]], encoding: str, errors: str
    ) -> None:
        text = io.TextIOWrapper(f, encoding=encoding, errors=errors, newline="")
        try:
            if self._copy:
                self._copy_records(text, results)
            else:
                self._write_lines(text, results)
        finally:
            text.detach()  # leave the binary file open (even on error): the caller closes it

    def _write_lines(self, out: io.TextIOWrapper, results: Mapping[int, Mapping[str, str]]) -> None:
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator=self.line_end)
        for line in output_lines(self._sheet, results):
            if line.results is None:
                writer.writerow(line.cells)
            else:
                writer.writerow(line.cells + [_defuse(v) for v in line.results])

    def _copy_records(
        self, out: io.TextIOWrapper, results: Mapping[int, Mapping[str, str]]
    ) -> None:
        sheet, layout = self._sheet, self._sheet.layout
        assert layout is not None and layout.text is not None and layout.ends is not None
        text, ends, counts = layout.text, layout.ends, layout.counts
        width, header_count = layout.width, len(layout.header)
        tail = _Tail(self.delimiter)
        write = out.write
        names = list(OUTPUT_COLUMNS)
        no_results = [""] * len(OUTPUT_COLUMNS)
        top = sheet.header_row
        start = 0
        for number, end in enumerate(ends, 1):
            record = text[start:end]
            start = end
            if number < top:
                write(record)  # a title or a blank line above the table, as it is
                continue
            if record.endswith("\r\n"):
                body, line_end = record[:-2], "\r\n"
            elif record.endswith(("\n", "\r")):
                body, line_end = record[:-1], record[-1]
            else:
                body, line_end = record, self.line_end  # the last line, without its own
            if number == top:
                cells = names
            else:
                got = results.get(number)
                cells = (
                    [_defuse(str(got.get(c) or "")) for c in OUTPUT_COLUMNS] if got else no_results
                )
            # An empty line is no cell until the first delimiter makes it one.
            pad = width - max(counts.get(number, header_count), 1)
            write(body)
            write(tail.text([""] * pad + cells if pad > 0 else cells))
            write(line_end)


class _Tail:
    """The result cells as they follow a record: a delimiter, then the cells quoted as the
    csv module quotes them (only when they need it)."""

    def __init__(self, delimiter: str) -> None:
        self._line = ""
        self._delimiter = delimiter
        # CRLF, cut off below: the csv module quotes a cell holding a character of the line
        # terminator, and both must be quoted (a bare CR ends a line for some readers).
        self._writer = csv.writer(self, delimiter=delimiter, lineterminator="\r\n")

    def write(self, line: str) -> None:
        self._line = line

    def text(self, cells: list[str]) -> str:
        self._writer.writerow(cells)
        return self._delimiter + self._line[:-2]


def _first_line_end(text: str | None) -> str:
    """The input's line ending (its first), else CRLF, as RFC 4180 and Excel write them."""
    if text:
        found = _LINE_END.search(text)
        if found is not None:
            return found.group()
    return "\r\n"
