"""Benchmarks: how close a run gets to the API's rate limit, and what preparing rows costs.

    pip install -e '.[bench]'           # pandas (the reference read) and openpyxl (XLSX sheets)
    python benchmarks/run.py            # the full set, about 5 minutes on 2 cores
    python benchmarks/run.py --quick    # smaller sheets and runs, about a minute

Prints a markdown table (figure, target, measured, pass) and the machine it ran on; exits 1 when
a target is missed. Everything runs on loopback against the project's emulator, started as a
separate process so that its CPU never counts as the client's. Not part of the test suite.

Rate figures (the goals of ``SCENARIOS``): the emulator counts R=10 creates a second in a
sliding window of 60 (or 10) requests, spends a latency L (uniform jitter of L/2 either way) on
the way in, before it counts a request, and 429s with ``Retry-After`` in whole seconds, as most
real servers do; reads (the pre-flight's catalogue) count in their own budget. Efficiency is the
ideal time (N-1)/R over the span between the first and the last create as the server saw them,
shown beside the physical ceiling W/(W+L): arrivals jittered over L seconds always fit a window
of W seconds at that share of the limit, however they bunch. Independent delays seldom bunch
that much, so a window of many requests fits more (0.877 of it for 60 requests and L=1 s); the
gate paces at that share, shown too where it is the higher.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from sheet import write_sheet  # noqa: E402 - benchmarks/ is not a package

from pipeline.argil.gate import jitter_share  # noqa: E402

PYTHON = sys.executable
CONFIG = HERE / "bench.yaml"
API_KEY = "benchmark-key"


# --- machine ---------------------------------------------------------------------------------


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f", {int(line.split()[1]) / 1024 / 1024:.0f} GB RAM"
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores{ram}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


# --- processes -------------------------------------------------------------------------------


@dataclass
class Finished:
    code: int
    stdout: str
    stderr: str
    wall: float
    cpu: float  # user + system seconds of the child itself
    max_rss_mb: float


def run_measured(
    cmd: Sequence[str], *, timeout: float, env: dict[str, str] | None = None
) -> Finished:
    """Run ``cmd`` to its end: its wall time, and its own CPU time and peak memory (wait4)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, cwd=ROOT, env={**os.environ, **(env or {})}
        )
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Finished(
            proc.returncode,
            out.read(),
            err.read(),
            wall,
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,  # Linux reports KiB
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """``argil-batch emulator`` in its own process, on loopback."""

    def __init__(self, log: Path, **knobs: Any) -> None:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/v1"
        cmd = [PYTHON, "-m", "pipeline", "emulator", "--port", str(self.port), "--seed", "1"]
        for name, value in knobs.items():
            flag = f"--{name.replace('_', '-')}"
            if value is True:
                cmd.append(flag)
            elif value is not None:
                cmd += [flag, str(value)]
        self._log = log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=self._log, cwd=ROOT)
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.root}/_emulator/stats", timeout=0.5)
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the emulator did not start; see {log}") from None
                time.sleep(0.05)  # waiting for the server to listen, not backing off

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.root}/_emulator/stats", timeout=30).json()
        return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class IndependentServer:
    """``tests/mixed_up_api.py`` limiting writes: its answers as the emulator's stats give them."""

    def __init__(self, scenario: Scenario, limit: float) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from mixed_up_api import MixedUpApi

        latency = scenario.latency_ms / 1000
        self.api = MixedUpApi(
            limit=scenario.window_requests,
            window=scenario.window_requests / limit,
            latency=latency,
            jitter=latency / 2,
        )
        self.base_url = self.api.base_url

    def stats(self) -> dict[str, Any]:
        keys: dict[str, int] = {}
        for key in self.api.holders().values():
            keys[key] = keys.get(key, 0) + 1
        return {
            "create_times": list(self.api.create_times),
            "creates": len(self.api.create_times),
            "rate_limited": self.api.rate_limited,
            "count_by_batch_key": keys,
        }


@contextmanager
def independent(scenario: Scenario, limit: float) -> Iterator[IndependentServer]:
    server = IndependentServer(scenario, limit)
    with server.api:
        yield server


@contextmanager
def emulator(log: Path, **knobs: Any) -> Iterator[EmulatorProcess]:
    server = EmulatorProcess(log, **knobs)
    try:
        yield server
    finally:
        server.stop()


# --- results table ---------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    target: str
    measured: str
    ok: bool | None  # None: shown for reference, no target


def table(figures: list[Figure]) -> str:
    lines = ["| figure | target | measured | pass |", "|---|---|---|---|"]
    for f in figures:
        mark = "" if f.ok is None else ("yes" if f.ok else "**NO**")
        lines.append(f"| {f.name} | {f.target} | {f.measured} | {mark} |")
    return "\n".join(lines)


# --- rate ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One row of the rate goals: the server's window and latency, and what the user says."""

    label: str
    what: str
    window_requests: int = 60
    latency_ms: float = 100.0  # spent before the count, uniform +- half of it
    rpm_factor: float = 1.0  # --rpm over the limit
    auto: bool = False
    announce: bool = False
    efficiency: float = 0.95
    share_429: float | None = 0.01
    # "independent": tests/mixed_up_api.py, a server written apart from the project (on
    # http.server, importing nothing of pipeline), limiting writes the same way.
    server: str = "emulator"
    # The run as a whole's goal: its reads before the first create within ``lead`` seconds
    # (one round trip), and this share of the limit over those and the creates' span (None:
    # not measured).
    whole: float | None = None
    lead: float = 0.0
    # A long window needs a longer run for the steady state to outweigh the search: rows
    # times this.
    rows_factor: int = 1


SCENARIOS = [
    Scenario("right-60", "right `--rpm`, 60-request window"),
    Scenario(
        "right-10",
        "right `--rpm`, 10-request window",
        window_requests=10,
        efficiency=0.85,
        share_429=0.02,
    ),
    Scenario("double", "`--rpm` twice too high", rpm_factor=2, efficiency=0.90, share_429=None),
    Scenario(
        "latency-1s",
        "latency 1 s ± 0.5 s",
        latency_ms=1000,
        efficiency=0.85,
        share_429=0.02,
        # One round trip of reads (1.5 s at most) before the first create: 0.83 over 300 rows.
        whole=0.83,
        lead=1.5,
    ),
    Scenario("announced", "announced limit, `--rpm` 4x too high", rpm_factor=4, announce=True),
    Scenario("auto", "`--rpm auto`, unannounced", auto=True, efficiency=0.85, share_429=0.02),
    Scenario(
        "auto-independent",
        "`--rpm auto`, unannounced, a server the project did not write",
        auto=True,
        efficiency=0.85,
        share_429=0.02,
        server="independent",
    ),
    Scenario(
        "auto-60s",
        "`--rpm auto`, unannounced, a window of 60 s",
        window_requests=600,
        auto=True,
        efficiency=0.85,
        share_429=0.02,
        rows_factor=6,
    ),
    Scenario(
        "auto-60s-independent",
        "`--rpm auto`, unannounced, a window of 60 s, a server the project did not write",
        window_requests=600,
        auto=True,
        efficiency=0.85,
        share_429=0.02,
        server="independent",
        rows_factor=6,
    ),
]


@dataclass
class RateResult:
    rows: int
    created: int
    efficiency: float
    span: float
    requests: int  # writes the server saw (reads are counted apart)
    rate_limited: int
    once: bool  # every row's batch key on exactly one video at the server
    with_id: int  # output rows that carry a video id
    found_rpm: float | None
    # The seconds from the run's first request to its first create, as they left (arrived at
    # the server, before the latency on the way in): the reads before the first create. The
    # run as a whole: (N-1)/R over those seconds plus the creates' span.
    lead: float = math.nan
    whole: float = math.nan


def concurrency_for(limit: float, latency_ms: float) -> int:
    """The README's rule: enough requests in flight to cover the slowest round trip (latency
    and its jitter) at the full rate, with a fifth to spare; 4 at least."""
    return max(4, math.ceil(limit * latency_ms * 1.5 / 1000 * 1.2))


def ceiling(scenario: Scenario, limit: float) -> float:
    """W / (W + L): what arrivals jittered over L seconds always fit of a window of W seconds."""
    window = scenario.window_requests / limit
    return window / (window + scenario.latency_ms / 1000)


def gate_share(scenario: Scenario, limit: float) -> float:
    """The share the gate paces at once it knows W and L: for independent delays, a window of
    many requests fits more than the ceiling (see ``pipeline.argil.gate.jitter_share``)."""
    window = scenario.window_requests / limit
    return jitter_share(limit * 60, window, scenario.latency_ms / 1000)


def rate_scenario(
    work: Path, scenario: Scenario, *, sheet: Path, rows: int, limit: float
) -> RateResult:
    output = work / f"{scenario.label}.argil.csv"
    state = work / f"{scenario.label}.state"
    rpm = "auto" if scenario.auto else str(limit * 60 * scenario.rpm_factor)
    knobs: dict[str, Any] = {
        "rpm": limit * 60,
        "rate_window": scenario.window_requests / limit,
        # Reads count apart, as Argil documents for its newer API (600 a minute).
        "read_rpm": 600,
        "latency_in_ms": scenario.latency_ms,
        "latency_in_jitter_ms": scenario.latency_ms / 2,
    }
    if scenario.announce:
        knobs["ratelimit_headers"] = True
    serving = (
        independent(scenario, limit)
        if scenario.server == "independent"
        else emulator(work / f"{scenario.label}.emulator.log", **knobs)
    )
    with serving as server:
        cmd = [
            PYTHON, "-m", "pipeline", "run", str(sheet), "-c", str(CONFIG), "-o", str(output),
            "--state", str(state), "--base-url", server.base_url, "--rpm", rpm,
            "--concurrency", str(concurrency_for(limit, scenario.latency_ms)),
            "--json", "--no-progress",
        ]  # fmt: skip
        if scenario.server == "independent":
            cmd.append("--no-preflight")  # it keeps no catalogue of avatars, voices, styles
        finished = run_measured(cmd, timeout=rows / limit * 4 + 60, env={"ARGIL_API_KEY": API_KEY})
        stats = server.stats()
    if finished.code not in (0, 1) or not finished.stdout.strip():
        raise RuntimeError(
            f"{scenario.label}: the run failed ({finished.code}): {finished.stderr[-2000:]}"
        )
    summary = json.loads(finished.stdout.strip().splitlines()[-1])
    times = sorted(stats["create_times"])
    span = times[-1] - times[0] if len(times) > 1 else math.inf
    counts = stats["count_by_batch_key"]
    with output.open(newline="", encoding="utf-8") as f:
        with_id = sum(1 for line in csv.DictReader(f) if line["argil_video_id"])
    return RateResult(
        rows=rows,
        created=summary["created"],
        efficiency=(len(times) - 1) / limit / span,
        span=span,
        requests=stats["creates"] + stats["rate_limited"],
        rate_limited=stats["rate_limited"],
        once=len(counts) == rows and all(n == 1 for n in counts.values()),
        with_id=with_id,
        found_rpm=summary.get("found_rpm"),
        **_whole(stats, times, limit),
    )


def _whole(stats: dict[str, Any], times: list[float], limit: float) -> dict[str, float]:
    first, create = stats.get("first_arrival"), stats.get("first_create_arrival")
    if first is None or create is None or len(times) < 2:
        return {}
    lead = create - first
    return {"lead": lead, "whole": (len(times) - 1) / limit / (lead + times[-1] - times[0])}


def rate_figures(
    work: Path, rows: int, limit: float, quick: bool, only: Sequence[str] = ()
) -> list[Figure]:
    figures: list[Figure] = []
    for scenario in SCENARIOS:
        if only and scenario.label not in only:
            continue
        count = rows * scenario.rows_factor
        sheet = work / f"rate-{count}.csv"
        if not sheet.exists():
            write_sheet(sheet, count, seed=11)
        r = rate_scenario(work, scenario, sheet=sheet, rows=count, limit=limit)
        top, paced = ceiling(scenario, limit), gate_share(scenario, limit)
        share = r.rate_limited / max(1, r.requests)
        found = f", found {r.found_rpm:.0f} rpm" if r.found_rpm else ""
        print(
            f"  {scenario.label}: efficiency {r.efficiency:.3f} (ceiling {top:.3f}"
            f"{f', {paced:.3f} for independent delays' if paced > top + 0.0005 else ''}) over "
            f"{r.span:.1f} s, {r.rate_limited}/{r.requests} answered 429, created "
            f"{r.created}/{r.rows}{found}",
            file=sys.stderr,
            flush=True,
        )
        once = r.once and r.created == r.rows and r.with_id == r.rows
        conc = concurrency_for(limit, scenario.latency_ms)
        where = (
            f"{scenario.what}; L={scenario.latency_ms:g}±{scenario.latency_ms / 2:g} ms before "
            f"the count, concurrency {conc}{f', {count} rows' if count != rows else ''}"
        )
        target = f">= {scenario.efficiency:.2f}"
        if scenario.share_429 is not None:
            target += f", < {scenario.share_429:.0%} 429"
        ok = r.efficiency >= scenario.efficiency and once
        if scenario.share_429 is not None:
            ok = ok and share < scenario.share_429
        # Short runs pay the start-up (the first 429s, the first answers) over fewer rows.
        judged = None if quick else ok
        figures.append(
            Figure(
                f"Efficiency ({where})",
                f"({target} at N=300)" if quick else target,
                f"{r.efficiency:.3f} of ceiling W/(W+L) {top:.3f}"
                f"{f' ({paced:.3f} for independent delays)' if paced > top + 0.0005 else ''}; "
                f"{share:.1%} 429 "
                f"({r.rate_limited} of {r.requests}){found}; "
                f"{r.created} created, {'each once' if r.once else 'DUPLICATES or gaps'}, "
                f"{r.with_id} with an id",
                judged,
            )
        )
        if scenario.whole is not None:
            figures.append(
                Figure(
                    f"The run as a whole, its reads before the first create included ({where})",
                    f"reads within {scenario.lead:g} s; >= {scenario.whole:.2f}",
                    f"the first create left {r.lead:.2f} s after the first read; "
                    f"{r.whole:.3f} of the limit over those seconds and the creates' span",
                    None if quick else r.lead <= scenario.lead and r.whole >= scenario.whole,
                )
            )
    return figures


RERUN = "rerun"  # the --scenario name of the re-run after Ctrl-C


def rerun_figure(work: Path, sheet: Path, rows: int, limit: float, quick: bool) -> Figure:
    """A run at the right ``--rpm`` stopped with Ctrl-C once a third of its rows are made, and
    the same command again at once, as a user does: the second starts while the server's
    window (60 requests, L=100 +- 50 ms before the count) still holds the first's requests.
    Its efficiency over its own creates, and its 429s. (Here the restart, a second or two,
    is ten times longer against the window than at Argil's 60 a minute: most of the first
    run's requests have left it. ``tests/e2e/test_rerun_pace.py`` holds the window full.)"""
    output, state = work / f"{RERUN}.argil.csv", work / f"{RERUN}.state"
    knobs: dict[str, Any] = {
        "rpm": limit * 60,
        "rate_window": 60 / limit,
        "read_rpm": 600,
        "latency_in_ms": 100,
        "latency_in_jitter_ms": 50,
    }
    env = {"ARGIL_API_KEY": API_KEY}
    with emulator(work / f"{RERUN}.emulator.log", **knobs) as server:
        cmd = [
            PYTHON, "-m", "pipeline", "run", str(sheet), "-c", str(CONFIG), "-o", str(output),
            "--state", str(state), "--base-url", server.base_url, "--rpm", str(limit * 60),
            "--concurrency", str(concurrency_for(limit, 100)), "--json", "--no-progress",
        ]  # fmt: skip
        with tempfile.TemporaryFile("w+") as log:
            first = subprocess.Popen(
                cmd, stdout=log, stderr=log, cwd=ROOT, env={**os.environ, **env}
            )
            deadline = time.monotonic() + rows / limit * 4 + 60
            while server.stats()["created"] < rows // 3:
                if first.poll() is not None or time.monotonic() > deadline:
                    first.kill()
                    raise RuntimeError("the first run ended before it could be interrupted")
                time.sleep(0.05)  # polling the server, not backing off
            first.send_signal(signal.SIGINT)
            if first.wait(60) != 130:
                log.seek(0)
                raise RuntimeError(f"the interrupted run did not exit 130: {log.read()[-2000:]}")
        before = server.stats()
        second = run_measured(cmd, timeout=rows / limit * 4 + 60, env=env)
        stats = server.stats()
    if second.code not in (0, 1):
        raise RuntimeError(f"the re-run failed ({second.code}): {second.stderr[-2000:]}")
    times = stats["create_times"][len(before["create_times"]) :]
    efficiency = (len(times) - 1) / limit / (times[-1] - times[0])
    refused = stats["rate_limited"] - before["rate_limited"]
    requests = stats["creates"] - before["creates"] + refused
    counts = stats["count_by_batch_key"]
    once = len(counts) == rows and all(n == 1 for n in counts.values())
    print(
        f"  {RERUN}: first run stopped after {before['created']} creates; the re-run made "
        f"{len(times)} at efficiency {efficiency:.3f}, {refused}/{requests} answered 429",
        file=sys.stderr,
        flush=True,
    )
    ok = efficiency >= 0.95 and refused / max(1, requests) < 0.01 and once
    return Figure(
        "Efficiency (re-run right after Ctrl-C, right `--rpm`, 60-request window; the first "
        f"run stopped after {before['created']} of {rows} rows, L=100±50 ms before the count)",
        "(>= 0.95, < 1% 429 at N=300)" if quick else ">= 0.95, < 1% 429",
        f"{efficiency:.3f} over the re-run's {len(times)} creates; {refused} of {requests} "
        f"answered 429; {'each row once' if once else 'DUPLICATES or gaps'}",
        None if quick else ok,
    )


# --- local work -------------------------------------------------------------------------------


def validate_cmd(sheet: Path) -> list[str]:
    return [PYTHON, "-m", "pipeline", "validate", str(sheet), "-c", str(CONFIG)]


PANDAS_READ = {
    "csv": "import sys, pandas as pd; pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)",
    "xlsx": "import sys, pandas as pd; pd.read_excel(sys.argv[1], engine='calamine', dtype=str)",
}


def local_figures(work: Path, rows: int) -> list[Figure]:
    figures: list[Figure] = []
    for kind in ("csv", "xlsx"):
        sheet = write_sheet(work / f"local-{rows}.{kind}", rows, seed=7)
        done = run_measured(validate_cmd(sheet), timeout=600)
        if done.code != 0:
            raise RuntimeError(f"validate {sheet} failed ({done.code}): {done.stderr[-2000:]}")
        pandas = run_measured([PYTHON, "-c", PANDAS_READ[kind], str(sheet)], timeout=600)
        if pandas.code != 0:
            raise RuntimeError(f"pandas read of {sheet} failed: {pandas.stderr[-2000:]}")
        speed = rows / done.wall
        print(
            f"  validate {kind}: {done.wall:.2f} s ({speed:,.0f} rows/s), "
            f"{done.max_rss_mb:.0f} MB; pandas alone {pandas.wall:.2f} s, "
            f"{pandas.max_rss_mb:.0f} MB",
            file=sys.stderr,
            flush=True,
        )
        what = f"{rows:,} rows, {kind.upper()}"
        figures.append(
            Figure(
                f"`validate` speed ({what}, whole command)",
                ">= 5,000 rows/s",
                f"{speed:,.0f} rows/s ({done.wall:.2f} s)",
                speed >= 5000,
            )
        )
        figures.append(
            Figure(
                f"`validate` peak memory ({what})",
                "< 1 GB",
                f"{done.max_rss_mb:,.0f} MB",
                done.max_rss_mb < 1024,
            )
        )
        reader = "`read_csv`" if kind == "csv" else "`read_excel` (calamine)"
        figures.append(
            Figure(
                f"pandas {reader} alone, as text ({what}, whole process)",
                "(reference)",
                f"{pandas.wall:.2f} s, {pandas.max_rss_mb:,.0f} MB: `validate` takes "
                f"{done.wall / pandas.wall:.1f}x its time",
                None,
            )
        )
    return figures


def rerun_figures(work: Path, rows: int, quick: bool) -> list[Figure]:
    sheet = write_sheet(work / f"rerun-{rows}.csv", rows, seed=5)
    output = work / f"rerun-{rows}.argil.csv"
    env = {"ARGIL_API_KEY": API_KEY}
    with emulator(work / "rerun.emulator.log") as server:
        cmd = [
            PYTHON, "-m", "pipeline", "run", str(sheet), "-c", str(CONFIG), "-o", str(output),
            "--base-url", server.base_url, "--rpm", "6000000", "--concurrency", "4",
            "--json", "--no-progress",
        ]  # fmt: skip
        first = run_measured(cmd, timeout=900, env=env)
        summary = json.loads(first.stdout.strip().splitlines()[-1])
        if summary["created"] != rows:
            raise RuntimeError(f"the first run created {summary['created']} of {rows} rows")
        before = server.stats()["requests"]
        second = run_measured(cmd, timeout=300, env=env)
        again = json.loads(second.stdout.strip().splitlines()[-1])
        after = server.stats()["requests"]
    check = run_measured(validate_cmd(sheet), timeout=300)
    ratio = second.wall / check.wall
    cpu = first.cpu / rows
    print(
        f"  first run {first.wall:.1f} s ({rows / first.wall:,.0f} rows/s, "
        f"CPU {cpu * 1000:.2f} ms/row); re-run {second.wall:.2f} s, "
        f"{again['requests']} requests (server saw {after - before}); validate {check.wall:.2f} s",
        file=sys.stderr,
        flush=True,
    )
    sent = again["requests"] + (after - before)
    return [
        Figure(
            f"Client CPU per created row at full speed ({rows:,} rows against the emulator "
            "without a limit, concurrency 4; process CPU of the whole `run` command)",
            # Start-up (interpreter, imports) is spread over fewer rows in a quick run.
            "(< 2 ms at 10,000 rows)" if quick else "< 2 ms",
            f"{cpu * 1000:.2f} ms ({rows / first.wall:,.0f} rows/s, {first.wall:.1f} s)",
            None if quick else cpu < 0.002,
        ),
        Figure(
            # One read checks the key: a revoked key must not pass as a quiet exit 0.
            "Re-run of that finished batch: requests sent (client / server)",
            "1 / 1 (the key's check)",
            f"{again['requests']} / {after - before}",
            sent == 2,
        ),
        Figure(
            f"Re-run time over `validate` time ({rows:,} rows, CSV, whole commands)",
            "<= 2",
            f"{ratio:.2f} ({second.wall:.2f} s vs {check.wall:.2f} s)",
            ratio <= 2,
        ),
    ]


# --- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sheets, shorter runs")
    parser.add_argument("--only", choices=["rate", "local"], help="run one half only")
    parser.add_argument("--keep", type=Path, help="keep the sheets and outputs in this folder")
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=[*(s.label for s in SCENARIOS), RERUN],
        help="only this rate scenario (repeatable)",
    )
    args = parser.parse_args(argv)
    missing = [m for m in ("pandas", "openpyxl") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"Error: the benchmarks need {' and '.join(missing)}: pip install -e '.[bench]'",
            file=sys.stderr,
        )
        return 2
    limit = 10.0
    rate_rows = 100 if args.quick else 300
    local_rows = 20_000 if args.quick else 100_000
    rerun_rows = 2_000 if args.quick else 10_000
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="argil-bench-") as temp:
        work = args.keep or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        figures: list[Figure] = []
        if args.only in (None, "rate"):
            print("rate limit:", file=sys.stderr, flush=True)
            scenarios = [name for name in args.scenario if name != RERUN]
            if scenarios or not args.scenario:
                figures += rate_figures(work, rate_rows, limit, args.quick, scenarios)
            if not args.scenario or RERUN in args.scenario:
                sheet = write_sheet(work / f"{RERUN}-{rate_rows}.csv", rate_rows, seed=13)
                figures.append(rerun_figure(work, sheet, rate_rows, limit, args.quick))
        if args.only in (None, "local"):
            print("local work:", file=sys.stderr, flush=True)
            figures += local_figures(work, local_rows)
            figures += rerun_figures(work, rerun_rows, args.quick)
    print(table(figures))
    print()
    print(
        f"Machine: {machine()}. Took {time.perf_counter() - started:.0f} s"
        f"{' (--quick)' if args.quick else ''}."
    )
    return 0 if all(f.ok is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
