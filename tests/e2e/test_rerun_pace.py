"""A re-run right after a run (a Ctrl-C, then the same command again) starts while the API's
rate window still counts the first run's requests: it paces around them, from the send times
the journal keeps, instead of meeting a 429 that it would take for a lower limit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from support import UNPACED_LEADS_CONFIG, VirtualTime, write_leads

from pipeline.emulator import EmulatorServer
from pipeline.engine import run_job
from pipeline.settings import JobSpec, RunOptions

# Argil's 60 writes a minute in a sliding window, twenty times faster: 60 in any 3 s.
LIMIT = 20.0  # a second
WINDOW = 3.0


def run(folder: Path, server: EmulatorServer, vt: VirtualTime, rows: int, rpm: float) -> None:
    (folder / "c.yaml").write_text(UNPACED_LEADS_CONFIG, encoding="utf-8")
    write_leads(folder / "leads.csv", rows)
    spec = JobSpec(
        sheet=folder / "leads.csv",
        config=folder / "c.yaml",
        output=folder / "out.csv",
        base_url=server.base_url,
        api_key="k",
        rpm=rpm,
        read_rpm=6000,
        sleep=vt.sleep,
        clock=vt,
        options=RunOptions(doubt_delay=0, preflight=False),
    )
    outcome = run_job(spec)
    assert outcome.exit_code == 0, outcome.summary


def test_a_rerun_right_after_a_burst_waits_for_room_then_keeps_to_the_limit(
    tmp_path: Path, make_emulator: Callable[..., EmulatorServer]
) -> None:
    vt = VirtualTime()
    server = make_emulator(
        rpm=LIMIT * 60,
        rate_window=WINDOW,
        read_rpm=60_000,
        latency_in_ms=10,
        latency_in_jitter_ms=5,
        clock=vt,
        seed=3,
    )
    # The first run sends 54 rows within half a second (a cap far too high), and stops. The
    # second, at the right rate, would get its first few requests through, then a 429 asking
    # to wait seconds: the gate took that for a limit of a tenth of the real one, for minutes.
    first_rows, more = 54, 60
    run(tmp_path, server, vt, first_rows, 60_000)
    first = list(server.emulator.stats.create_times)
    assert len(first) == first_rows
    refused = server.emulator.stats.rate_limited
    run(tmp_path, server, vt, first_rows + more, LIMIT * 60)
    second = server.emulator.stats.create_times[first_rows:]
    assert len(second) == more
    # Once the first run's requests have left the window, the second may send at the limit:
    # how close it keeps to it over its rows from there on.
    start = first[0] + WINDOW
    ahead = sum(1 for at in second if at <= start)
    efficiency = (more - ahead) / LIMIT / (second[-1] - start)
    assert efficiency >= 0.9, (efficiency, server.emulator.stats.rate_limited - refused)
    assert server.emulator.stats.rate_limited == refused, "no 429 in the second run"
