"""Output write time for a large sheet: what one mid-run refresh of the output costs.

    python benchmarks/output_write.py 100000            # CSV and XLSX, 100,000 rows
    python benchmarks/output_write.py 2000 --libreoffice  # and check LibreOffice reads it

For each case the sheet (``benchmarks/sheet.py``: five columns) is read, then its output is
written twice through one :class:`~pipeline.sheets.OutputFile`, as a run's refresh loop does:
the first write includes loading the input workbook, the second is what every later refresh
costs. Every row carries all nine result columns. The refresh loop in ``output_writer.py``
waits at least nine times the last write between refreshes, so the output never takes more
than a tenth of the run. ``--libreoffice`` converts each XLSX output with ``soffice
--headless --convert-to csv`` and checks that LibreOffice reads the same cells openpyxl reads.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sheet import write_sheet

from pipeline.sheets import OutputFile, read_sheet


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


def measure(source: Path, out: Path) -> tuple[float, float]:
    sheet = read_sheet(source)
    columns = results([row.number for row in sheet.rows])
    output = OutputFile(sheet, out)
    started = time.perf_counter()
    output.write(columns)
    first = time.perf_counter() - started
    started = time.perf_counter()
    output.write(columns)
    return first, time.perf_counter() - started


def libreoffice_agrees(out: Path, work: Path) -> str:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return "soffice not found"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{work / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",  # comma, quote, UTF-8
            "--outdir",
            str(work / "lo"),
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    with (work / "lo" / f"{out.stem}.csv").open(newline="", encoding="utf-8") as f:
        seen = list(csv.reader(f))
    ws = openpyxl.load_workbook(out, read_only=True).worksheets[0]
    expected = [[_shown(v) for v in row] for row in ws.iter_rows(values_only=True)]
    width = len(expected[0])
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, nargs="?", default=100_000)
    parser.add_argument("--libreoffice", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        cases = [
            ("CSV in, CSV out", "in.csv", "out.csv"),
            ("CSV in, XLSX out (a fresh workbook)", "in.csv", "fresh.xlsx"),
            ("XLSX in, XLSX out (the workbook whole)", "in.xlsx", "whole.xlsx"),
        ]
        for suffix in (".csv", ".xlsx"):
            write_sheet(work / f"in{suffix}", args.rows)
        print(f"{args.rows:,} rows, 5 input columns + 9 result columns")
        for label, source, out in cases:
            first, again = measure(work / source, work / out)
            line = f"{label}: first write {first:.2f} s, each refresh {again:.2f} s"
            if args.libreoffice and out.endswith(".xlsx"):
                line += f"; LibreOffice: {libreoffice_agrees(work / out, work)}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
