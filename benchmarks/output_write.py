"""Output write time and memory for a large sheet: what one mid-run refresh of the output costs.

    python benchmarks/output_write.py 100000              # every case below, 100,000 rows
    python benchmarks/output_write.py 100000 --openpyxl   # and the openpyxl round trip
    python benchmarks/output_write.py 100000 --formulas   # and computing the planner's values
    python benchmarks/output_write.py 2000 --libreoffice  # and check what LibreOffice reads

Cases: the benchmark sheet (``benchmarks/sheet.py``: five columns) as CSV to CSV, CSV to a
fresh XLSX and XLSX handed back whole; and a *planner* workbook as a team keeps one (a README
tab first, a title band above the header on row 2, an avatar looked up by VLOOKUP from a
Lookup tab and a name joined by CONCAT on every row, widths, a number format, a filter, the
formulas saved with their values as Excel or LibreOffice save them), handed back whole, then
handed back again from that output (a re-run, rewriting its own columns).

Each case runs in a process of its own, so that its peak memory (the whole process: reading
the sheet, then writing) is its own. The sheet is read, then its output is written twice
through one :class:`~pipeline.sheets.OutputFile`, as a run's refresh loop does: the first
write includes loading the input workbook, the second is what every later refresh costs.
Every row carries all nine result columns. The refresh loop in ``engine/output.py`` waits at
least nine times the last write between refreshes, so the output never takes more than a
tenth of the run. For each planner output, the formulas read back with their values are
counted, through calamine (what the next run reads) and pandas.

``--openpyxl`` adds the way the whole workbook was written before: openpyxl loads it, the
result cells are set, openpyxl saves it (formulas without their values). ``--formulas`` adds
the other way of keeping values: that round trip, then the ``formulas`` package computing
every formula (``pip install formulas``; not a dependency of argil-batch), its time and
memory and whether it computed what the workbook had saved. ``--libreoffice`` converts each
XLSX output with ``soffice --headless --convert-to csv`` and compares every cell with the
values saved in the output (the planner's data sheet for the planner).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sheet import write_sheet

from pipeline.sheets import OUTPUT_COLUMNS, OutputFile, read_sheet

PLANNER_TIERS = {"gold": "avatar-emma", "silver": "avatar-noah", "bronze": "avatar-lina"}
PLANNER_HEADERS = [
    "email", "first_name", "last_name", "company", "tier", "avatar", "full_name", "script",
    "budget",
]  # fmt: skip
_FIRST = ["Maya", "Daniel", "Sofia", "Liam", "Aiko", "Omar", "Chloé", "Mateo", "Priya"]
_LAST = ["Chen", "Okafor", "García", "Novak", "Tanaka", "Haddad", "Müller", "Rossi"]


def results(numbers: list[int]) -> dict[int, dict[str, str]]:
    return {
        n: {
            "argil_row_key": f"key-{n}",
            "argil_video_id": f"vid-{n:08d}",
            "argil_status": ("DONE", "GENERATING_VIDEO", "FAILED")[n % 3],
            "argil_error": "the video ended FAILED" if n % 3 == 2 else "",
            "argil_moments": str(1 + n % 3),
            "argil_preview_url": f"https://app.argil.ai/videos/vid-{n:08d}",
            "argil_video_url": f"https://cdn.argil.ai/vid-{n:08d}.mp4" if n % 3 == 0 else "",
            "argil_updated_at": "2026-03-01T14:30:00+00:00",
            "argil_duration": f"{10 + n % 50:g}",
        }
        for n in numbers
    }


# --- the planner ------------------------------------------------------------------------


def write_planner(path: Path, rows: int) -> Path:
    """A planner of ``rows`` leads (see the module's docstring), its formulas saved with
    their values. openpyxl writes it (write-only, for speed) without the values; they are
    then written into the sheet's XML, as a spreadsheet program saves them."""
    book = openpyxl.Workbook(write_only=True)
    readme = book.create_sheet("README")
    readme.append(["How this planner works"])
    readme.append([])
    readme.append(["Fill one row per lead on the Leads tab; the avatar comes from the tier."])
    leads = book.create_sheet("Leads")
    for letter, width in zip("ABCDEFGHI", (28, 12, 12, 16, 8, 14, 18, 64, 12), strict=True):
        leads.column_dimensions[letter].width = width
    leads.auto_filter.ref = f"A2:I{rows + 2}"
    leads.append([])  # the title band
    leads.append(PLANNER_HEADERS)
    tiers = list(PLANNER_TIERS)
    cached: dict[bytes, bytes] = {}
    for i in range(rows):
        n = i + 3
        first, last, tier = _FIRST[i % len(_FIRST)], _LAST[i % len(_LAST)], tiers[i % 3]
        company = f"Company {i + 1}"
        leads.append(
            [
                f"lead{i + 1}@example.com", first, last, company, tier,
                f"=VLOOKUP(E{n},Lookup!$A$2:$B$4,2,FALSE)",
                f'=_xlfn.CONCAT(B{n}," ",C{n})',
                f"Hi {first}, {company} caught our eye. Here is a short idea for your team.",
                1250.5 * i,
            ]
        )  # fmt: skip
        cached[b"F%d" % n] = PLANNER_TIERS[tier].encode()
        cached[b"G%d" % n] = f"{first} {last}".encode()
    lookup = book.create_sheet("Lookup")
    lookup.append(["tier", "avatar"])
    for tier, avatar in PLANNER_TIERS.items():
        lookup.append([tier, avatar])
    buffer = io.BytesIO()
    book.save(buffer)

    def with_value(match: re.Match[bytes]) -> bytes:
        ref = match.group(1)
        return b'<c r="%s" t="str"><f>%s</f><v>%s</v></c>' % (ref, match.group(2), cached[ref])

    formula = re.compile(rb'<c r="([FG][0-9]+)"><f>([^<]*)</f><v\s*/></c>')
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet2.xml":
                data = formula.sub(with_value, data)
            target.writestr(info, data, zipfile.ZIP_DEFLATED)
    return path


def formula_values(path: Path) -> dict[str, str]:
    """What each reader sees of the planner's formula columns: how many of the avatar and
    full-name cells hold a value, through calamine (our reader, the next run) and pandas."""
    import pandas

    sheet = read_sheet(path, sheet="Leads")
    seen = sum(1 for row in sheet.rows for c in ("avatar", "full_name") if row.values[c])
    frame = pandas.read_excel(path, sheet_name="Leads", header=1, engine="openpyxl")
    filled = int(frame["avatar"].notna().sum() + frame["full_name"].notna().sum())
    total = 2 * len(sheet.rows)
    return {"calamine": f"{seen:,} of {total:,}", "pandas": f"{filled:,} of {total:,}"}


# --- the cases, each in its own process ---------------------------------------------------


def measure(source: Path, out: Path, sheet_name: str | None) -> dict[str, Any]:
    sheet = read_sheet(source, sheet=sheet_name)
    columns = results([row.number for row in sheet.rows])
    before = _peak_mb()
    output = OutputFile(sheet, out)
    started = time.perf_counter()
    output.write(columns)
    first = time.perf_counter() - started
    started = time.perf_counter()
    output.write(columns)
    return {
        "first": first,
        "again": time.perf_counter() - started,
        "peak": _peak_mb(),
        "read": before,
    }


def measure_openpyxl(source: Path, out: Path, sheet_name: str | None) -> dict[str, Any]:
    """The round trip through openpyxl the whole-workbook output used to be: load, set the
    result cells (values only: its styling cost a few more seconds), save."""
    from openpyxl import load_workbook

    sheet = read_sheet(source, sheet=sheet_name)
    columns = results([row.number for row in sheet.rows])
    before = _peak_mb()
    started = time.perf_counter()
    book = load_workbook(source, keep_links=True)
    ws = book[sheet.sheet_name] if sheet.sheet_name else book.worksheets[0]
    positions = sheet.columns or {h: i for i, h in enumerate(sheet.headers)}
    width = max(positions.values()) + 1
    where = {**positions}
    for k, column in enumerate(c for c in OUTPUT_COLUMNS if c not in positions):
        where[column] = width + k
        ws.cell(sheet.header_row, width + k + 1, column)

    def fill() -> None:
        for row in sheet.rows:
            for column, value in columns[row.number].items():
                cell = ws.cell(row.number, where[column] + 1)
                cell.value = value or None
                cell.data_type = "s"
        book.save(out)

    fill()
    first = time.perf_counter() - started
    started = time.perf_counter()
    fill()
    return {
        "first": first,
        "again": time.perf_counter() - started,
        "peak": _peak_mb(),
        "read": before,
    }


def measure_formulas(source: Path, out: Path, sheet_name: str | None) -> dict[str, Any]:
    """Way (b): the openpyxl round trip, then the formulas package computing every formula of
    the saved workbook, so that values could be written back beside them."""
    import formulas  # type: ignore[import-not-found]

    figures = measure_openpyxl(source, out, sheet_name)
    started = time.perf_counter()
    model = formulas.ExcelModel().loads(str(out)).finish()
    solution = model.calculate()
    figures["formulas"] = time.perf_counter() - started
    figures["peak"] = _peak_mb()
    expected = {ref.decode(): value.decode() for ref, value in _saved_values(source).items()}
    right = 0
    for key, value in solution.items():
        ref = str(key).rpartition("!")[2].upper()
        if "LEADS" in str(key).upper() and ref in expected:
            got = value.value.tolist()[0][0] if hasattr(value, "value") else value
            right += str(got) == expected[ref]
    figures["computed"] = f"{right:,} of {len(expected):,} as saved"
    return figures


def _saved_values(path: Path) -> dict[bytes, bytes]:
    with zipfile.ZipFile(path) as archive:
        data = archive.read("xl/worksheets/sheet2.xml")
    return dict(re.findall(rb'<c r="([A-Z]+[0-9]+)" t="str"><f>[^<]*</f><v>([^<]*)</v>', data))


def _peak_mb() -> float:
    # VmHWM, the process's own high-water mark: Linux carries ru_maxrss over an exec, so a
    # case's process would report the parent's size when that was larger.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(how: str, source: Path, out: Path, sheet_name: str | None) -> dict[str, Any]:
    """Run one case in a new process: the figures, as JSON on its standard output."""
    command = [sys.executable, __file__, "--case", how, str(source), str(out)]
    if sheet_name:
        command += ["--sheet", sheet_name]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# --- LibreOffice ------------------------------------------------------------------------


def libreoffice_agrees(out: Path, work: Path, sheet_name: str | None = None) -> str:
    """Whether LibreOffice reads the cells (formulas: their values) that the output holds."""
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return "soffice not found"
    book = openpyxl.load_workbook(out, read_only=True, data_only=True)
    names = book.sheetnames
    name = sheet_name or names[0]
    ws = book[name]
    expected = [[_shown(v) for v in row] for row in ws.iter_rows(values_only=True)]
    book.close()
    # Field 12 of the filter options: which sheet, 1-based; the file is then NAME-SHEET.csv.
    options = f"44,34,76,1,,0,false,true,true,false,false,{names.index(name) + 1}"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{work / 'lo-profile'}",
            "--headless",
            "--convert-to",
            f"csv:Text - txt - csv (StarCalc):{options}",
            "--outdir",
            str(work / "lo"),
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    with (work / "lo" / f"{out.stem}-{name}.csv").open(newline="", encoding="utf-8") as f:
        seen = list(csv.reader(f))
    width = max(len(row) for row in expected)
    expected = [row + [""] * (width - len(row)) for row in expected]
    seen = [row + [""] * (width - len(row)) for row in seen]
    bad = [i for i, (a, b) in enumerate(zip(seen, expected, strict=False)) if a != b]
    if len(seen) != len(expected) or bad:
        first = bad[0] if bad else min(len(seen), len(expected))
        return f"DIFFERENT (rows {len(seen)} vs {len(expected)}, first at row {first + 1})"
    return f"same cells ({len(expected):,} rows x {width} columns)"


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")  # the result column's format
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- the table ----------------------------------------------------------------------------


def line(label: str, figures: dict[str, Any]) -> str:
    text = (
        f"{label}: first write {figures['first']:.2f} s, each refresh {figures['again']:.2f} s, "
        f"peak {figures['peak']:,.0f} MB (of which reading the sheet {figures['read']:,.0f} MB)"
    )
    if "formulas" in figures:
        text += f"; then formulas computed the values in {figures['formulas']:.2f} s"
        text += f" ({figures['computed']}), peak {figures['peak']:,.0f} MB"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=100_000)
    parser.add_argument("--libreoffice", action="store_true")
    parser.add_argument("--openpyxl", action="store_true")
    parser.add_argument("--formulas", action="store_true")
    parser.add_argument("--case", nargs=3, metavar=("HOW", "SOURCE", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--sheet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        how, source, out = args.case
        cases = {"ours": measure, "openpyxl": measure_openpyxl, "formulas": measure_formulas}
        print(json.dumps(cases[how](Path(source), Path(out), args.sheet)))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for suffix in (".csv", ".xlsx"):
            write_sheet(work / f"in{suffix}", args.rows)
        write_planner(work / "planner.xlsx", args.rows)
        print(f"{args.rows:,} rows; the benchmark sheet: 5 input columns + 9 result columns")
        cases = [
            ("CSV in, CSV out", "ours", "in.csv", "out.csv", None),
            ("CSV in, XLSX out (a fresh workbook)", "ours", "in.csv", "fresh.xlsx", None),
            ("XLSX in, XLSX out (the workbook whole)", "ours", "in.xlsx", "whole.xlsx", None),
            ("Planner, handed back whole", "ours", "planner.xlsx", "planner.argil.xlsx", "Leads"),
            (
                "Planner, a re-run on that output",
                "ours",
                "planner.argil.xlsx",
                "planner.again.xlsx",
                "Leads",
            ),
        ]
        if args.openpyxl:
            cases += [
                ("XLSX in, openpyxl round trip", "openpyxl", "in.xlsx", "rt.xlsx", None),
                ("Planner, openpyxl round trip", "openpyxl", "planner.xlsx", "rt.p.xlsx", "Leads"),
            ]
        if args.formulas:
            cases.append(
                (
                    "Planner, openpyxl round trip + formulas",
                    "formulas",
                    "planner.xlsx",
                    "formulas.xlsx",
                    "Leads",
                )
            )
        for label, how, source, out, sheet_name in cases:
            figures = run_case(how, work / source, work / out, sheet_name)
            text = line(label, figures)
            if sheet_name:
                seen = formula_values(work / out)
                text += f"; formula values read back: calamine {seen['calamine']}"
                text += f", pandas {seen['pandas']}"
            if args.libreoffice and out.endswith(".xlsx"):
                text += f"; LibreOffice: {libreoffice_agrees(work / out, work, sheet_name)}"
            print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
