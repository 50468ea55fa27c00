"""Benchmark: a whole sheet created, rendered and waited for, at the API's write limit, with its
statuses followed by listing the batch rather than one read per video.

    python benchmarks/render_wait.py              # 200 rows, about a minute
    python benchmarks/render_wait.py --rows 50    # shorter

The emulator allows 10 writes a second (creates and renders) and 10 reads a second, each in a
sliding window of its own of 60 requests (6 s: Argil's limits are per minute, this is the same
window ten times faster, as in ``run.py``), spends 100 ms (uniform jitter of 50 ms either way)
on the way in, before it counts a request, as a real network does, and renders in 15 s. N rows
need 2N writes, so the ideal is (2N-1)/10 s for the writes plus one render; the target is 1.10
times that, with fewer than 50 reads in all (the catalogue, the reconcile and the sweeps).
Reads are counted by the emulator (GET requests, ``/_emulator/stats``). Exits 1 when a target
is missed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sheet import write_sheet

from pipeline.emulator import EmulatorServer, EmulatorSettings
from pipeline.engine import run_job
from pipeline.settings import JobSpec, RunOptions

HERE = Path(__file__).resolve().parent
RATE = 10.0  # per second, writes and reads each
RENDER_SECONDS = 15.0
TIME_TARGET = 1.10
READS_TARGET = 50


def settings() -> EmulatorSettings:
    return EmulatorSettings(
        rpm=RATE * 60,
        read_rpm=RATE * 60,
        rate_window=6.0,
        latency_in_ms=100.0,
        latency_in_jitter_ms=50.0,
        render_seconds=RENDER_SECONDS,
        seed=1,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()
    rows = args.rows
    with tempfile.TemporaryDirectory(prefix="argil-render-wait-") as folder:
        sheet = write_sheet(Path(folder) / "leads.csv", rows)
        with EmulatorServer(settings()) as server:
            spec = JobSpec(
                sheet=sheet,
                config=HERE / "bench.yaml",
                output=Path(folder) / "out.csv",
                base_url=server.base_url,
                api_key="benchmark-key",
                rpm=RATE * 60,
                read_rpm=RATE * 60,
                options=RunOptions(render=True, wait=True, wait_timeout=600),
            )
            started = time.perf_counter()
            outcome = run_job(spec)
            elapsed = time.perf_counter() - started
            stats = httpx.get(f"{server.root_url}/_emulator/stats", timeout=10).json()
    ideal = (2 * rows - 1) / RATE + RENDER_SECONDS
    reads = int(stats["reads"])
    done = outcome.summary.done
    time_ok = elapsed <= TIME_TARGET * ideal
    reads_ok = reads < READS_TARGET
    print(f"{rows} rows, --render --wait, {RATE:g} writes/s and {RATE:g} reads/s, renders 15 s")
    print(f"reads and writes in windows of their own; {stats['rate_limited']} answers were 429")
    print()
    print("| figure | target | measured | pass |")
    print("|---|---|---|---|")
    print(
        f"| wall time / ideal ({ideal:.1f} s) | <= {TIME_TARGET:.2f}x "
        f"| {elapsed / ideal:.3f}x ({elapsed:.1f} s) | {'yes' if time_ok else 'NO'} |"
    )
    print(f"| reads in all | < {READS_TARGET} | {reads} | {'yes' if reads_ok else 'NO'} |")
    print(f"| videos done | {rows} | {done} | {'yes' if done == rows else 'NO'} |")
    sys.exit(0 if time_ok and reads_ok and done == rows else 1)


if __name__ == "__main__":
    main()
