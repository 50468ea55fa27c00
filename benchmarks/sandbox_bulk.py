"""Benchmark: a bulk sheet through ``--sandbox``, whose emulator keeps its videos in a state file
beside the run's journal, against the same run on a standalone emulator that keeps nothing.

    python benchmarks/sandbox_bulk.py               # 5,000 rows, about half a minute
    python benchmarks/sandbox_bulk.py --rows 1000   # shorter

The sheet has the columns of the shipped ``input_examples/leads.csv`` (its rows repeated, each
with an email of its own) and runs with the shipped ``configs/leads.yaml``, as
``argil-batch run SHEET -c configs/leads.yaml --sandbox --no-progress`` in a process of its own.
The reference run goes to ``argil-batch emulator`` (no state file) in another process at the
sandbox's own rate, so the two differ only by where the emulator runs and what it keeps. The
target: the sandbox run within 30 s at 5,000 rows (the same rate in rows a second at any size).
Exits 1 when it is missed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import API_KEY, PYTHON, emulator, machine, run_measured  # noqa: E402

from pipeline.settings import SANDBOX_RPM  # noqa: E402

CONFIG = ROOT / "configs" / "leads.yaml"
EXAMPLE = ROOT / "input_examples" / "leads.csv"
TARGET_ROWS_PER_SECOND = 5000 / 30


def write_bulk_sheet(path: Path, rows: int) -> Path:
    """``rows`` rows of the shipped example, repeated, each keyed by an email of its own."""
    with EXAMPLE.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        headers = list(reader.fieldnames or [])
        examples = [row for row in reader if row["Intro"].strip()]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, headers)
        writer.writeheader()
        for n in range(rows):
            row = dict(examples[n % len(examples)])
            row["Email"] = f"lead{n}@example.com"
            writer.writerow(row)
    return path


def summary_of(stdout: str) -> dict[str, object]:
    lines = stdout.strip().splitlines()
    if not lines:
        raise RuntimeError("the run printed no summary")
    found: dict[str, object] = json.loads(lines[-1])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument(
        "--rpm",
        type=float,
        help=f"--rpm for both runs (default: the sandbox's own, {SANDBOX_RPM:g})",
    )
    parser.add_argument("--no-reference", action="store_true", help="the sandbox run only")
    args = parser.parse_args()
    rows: int = args.rows
    rpm: float = args.rpm or SANDBOX_RPM
    rate = ["--rpm", f"{rpm:g}", "--read-rpm", f"{rpm:g}"] if args.rpm else []
    with tempfile.TemporaryDirectory(prefix="argil-sandbox-bulk-") as folder:
        work = Path(folder)
        sheet = write_bulk_sheet(work / "bulk.csv", rows)
        cmd = [PYTHON, "-m", "pipeline", "run", str(sheet), "-c", str(CONFIG), "--no-progress"]
        sandbox = run_measured([*cmd, *rate, "--sandbox", "--json"], timeout=rows / 5 + 120)
        if sandbox.code != 0:
            raise RuntimeError(f"the sandbox run failed ({sandbox.code}): {sandbox.stderr[-2000:]}")
        made = summary_of(sandbox.stdout)["created"]
        # The sandbox's API keeps its videos beside the run's journal.
        size = sum(store.stat().st_size for store in work.glob("*.api.json"))
        reference = None
        if not args.no_reference:
            with emulator(work / "emulator.log", rpm=None) as server:
                to = ["-o", str(work / "reference.argil.csv"), "--base-url", server.base_url]
                reference = run_measured(
                    [*cmd, *to, "--rpm", f"{rpm:g}", "--read-rpm", f"{rpm:g}", "--json"],
                    timeout=rows / 5 + 120,
                    env={"ARGIL_API_KEY": API_KEY},
                )
            if reference.code != 0:
                raise RuntimeError(
                    f"the reference run failed ({reference.code}): {reference.stderr[-2000:]}"
                )
    speed = rows / sandbox.wall
    ok = made == rows and speed >= TARGET_ROWS_PER_SECOND
    flag = f"`--sandbox --rpm {rpm:g}`" if args.rpm else f"`--sandbox` (its own {rpm:g} rpm)"
    print("| figure | target | measured | pass |")
    print("|---|---|---|---|")
    print(
        f"| {flag}, {rows:,} rows, `configs/leads.yaml`, whole command (emulator state file "
        f"{size / 1e6:.1f} MB at the end) | >= {TARGET_ROWS_PER_SECOND:.0f} rows/s (30 s at "
        f"5,000) | {speed:,.0f} rows/s ({sandbox.wall:.1f} s, {made} created) "
        f"| {'yes' if ok else '**NO**'} |"
    )
    if reference is not None:
        print(
            f"| the same run on a standalone emulator keeping no state, at {rpm:g} rpm "
            f"| (reference) | {rows / reference.wall:,.0f} rows/s ({reference.wall:.1f} s) |  |"
        )
    print()
    print(f"Machine: {machine()}.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
