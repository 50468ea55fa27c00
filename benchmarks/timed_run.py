"""One ``run_job`` in this process, its CPU time measured: what ``run.py`` starts per scenario.

    python benchmarks/timed_run.py SHEET CONFIG OUTPUT BASE_URL RPM CONCURRENCY [--no-preflight]

Prints one JSON object: the run's summary, plus ``cpu_run`` (process CPU seconds, every thread,
from just before ``run_job`` to just after it: reading and validating the sheet, the journal,
every request, the output sheet), ``cpu_steady`` over ``rows_steady`` (from the first row done
to the last: the cost per row once started, split in ``user_steady`` and ``sys_steady``) and
``cpu_imports`` (what the interpreter and the imports cost before that). The API it talks to
must run in another process, or its CPU would count here.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from pipeline.job import JobSpec, run_job
from pipeline.runner import Progress, RunOptions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sheet", type=Path)
    parser.add_argument("config", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("base_url")
    parser.add_argument("rpm", type=float)
    parser.add_argument("concurrency", type=int)
    parser.add_argument("--no-preflight", action="store_true")
    args = parser.parse_args()
    spec = JobSpec(
        sheet=args.sheet,
        config=args.config,
        output=args.output,
        base_url=args.base_url,
        api_key="benchmark-key",
        rpm=args.rpm,
        concurrency=args.concurrency,
        options=RunOptions(preflight=not args.no_preflight),
    )
    cpu_imports = time.process_time()  # since the process started
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    marks: list[tuple[float, int, float, float]] = []

    def on_progress(progress: Progress) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        marks.append((time.process_time(), progress.finished, usage.ru_utime, usage.ru_stime))

    outcome = run_job(spec, on_progress=on_progress)
    cpu_run = time.process_time() - cpu_before
    wall_run = time.perf_counter() - wall_before
    result = outcome.summary.as_dict()
    result.update(cpu_run=cpu_run, cpu_imports=cpu_imports, wall_run=wall_run)
    if len(marks) > 1:
        (cpu0, first, user0, sys0), (cpu1, last, user1, sys1) = marks[0], marks[-1]
        result.update(
            cpu_steady=cpu1 - cpu0,
            rows_steady=last - first,
            user_steady=user1 - user0,
            sys_steady=sys1 - sys0,
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
