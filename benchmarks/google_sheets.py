"""What writing results back into a Google Sheet costs: requests, bytes and time per refresh.

    python benchmarks/google_sheets.py 1000 5000

For each size, a tab of that many leads on the project's fake of the Sheets API (over HTTP,
on loopback: the time is the client's and the fake's, not Google's round trips), and the
write-back of a finished run's results (nine ``argil_*`` columns on every row) through
:class:`~pipeline.gsheets.GoogleSheetOutput`, as a run's refresh loop calls it:

- *first*: every row's results new (the run's first refresh after all its creates);
- *unchanged*: the same results again (a refresh with nothing new: one read, no write);
- *sorted*: a colleague sorted the rows meanwhile (each result follows its row: nothing to
  write, since the results moved with the rows);
- *one row*: one row's status changed.

A refresh reads the tab, sends at most one ``batchUpdate`` per 2 MB of changed rows, and, when
it sent anything, reads the tab once more to check that no sort moved rows meanwhile; the
figures say how many requests, how many bytes were sent, and how long it took (the key of
every row worked out again from its cells, at each read, is most of it). The refresh loop
waits at least nine times the last write between two, so the write-back never takes more than
a tenth of a run, and at most 24 reads and 12 writes a minute at the default 5 s: under
Google's 60 per minute.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support import LEAD_HEADERS, lead, leads_config  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.emulator.sheets import SheetsServer, SheetsWorld, new_service_account  # noqa: E402
from pipeline.gsheets import GoogleSheetOutput, GoogleSheetRef, connect  # noqa: E402
from pipeline.gsheets.reading import read_tab  # noqa: E402
from pipeline.sheets import Sheet  # noqa: E402
from pipeline.validation import validate_rows  # noqa: E402

SID = "bench-sheet"


def measure(rows: int, folder: Path) -> dict[str, object]:
    world = SheetsWorld(
        user_reads=10_000, user_writes=10_000, project_reads=10_000, project_writes=10_000
    )
    with SheetsServer(world) as server:
        info, public = new_service_account(server.token_uri)
        world.register(info["client_email"], public)
        key = folder / "key.json"
        key.write_text(json.dumps(info), encoding="utf-8")
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(key)
        os.environ["ARGIL_BATCH_SHEETS_URL"] = server.base_url
        grid: list[list[object]] = [list(LEAD_HEADERS), *(lead(i) for i in range(rows))]
        world.add_spreadsheet(
            SID, "Bench", {"Leads": grid}, editors=[info["client_email"]], rows=rows + 10
        )
        config_path = folder / "c.yaml"
        config_path.write_text(leads_config(), encoding="utf-8")
        config = load_config(config_path)
        client = connect(sandbox=False)
        ref = GoogleSheetRef(SID, 0)
        sheet, tab = read_tab(client, ref, sheet_name=None, header_row=None)

        def keys_of(now: Sheet) -> list[str]:
            return [plan.key for plan in validate_rows(now, config, tab.ref).plans]

        output = GoogleSheetOutput(client, tab, sheet, keys_of)
        output.load()
        results = {
            plan.row: {
                "argil_row_key": plan.key,
                "argil_video_id": f"00000000-0000-4000-8000-{plan.row:012d}",
                "argil_status": "IDLE",
                "argil_error": "",
                "argil_moments": "1",
                "argil_preview_url": f"https://app.argil.ai/preview/{plan.row}",
                "argil_video_url": "",
                "argil_updated_at": "2026-12-04T10:00:00+00:00",
                "argil_duration": "",
            }
            for plan in validate_rows(sheet, config, tab.ref).plans
        }
        found: dict[str, object] = {"rows": rows}

        def refresh(name: str) -> None:
            requests_before, logged = client.requests, len(world.write_log)
            started = time.perf_counter()
            output.write(results)
            seconds = time.perf_counter() - started
            sent = sum(len(json.dumps(body)) for body in world.write_log[logged:])
            found[name] = {
                "requests": client.requests - requests_before,
                "bytes_sent": sent,
                "seconds": round(seconds, 3),
            }

        refresh("first")
        refresh("unchanged")
        world.sort_rows(SID, "Leads", 1, 2, descending=True)
        refresh("sorted")
        first = min(results)
        results[first] = {**results[first], "argil_status": "DONE"}
        refresh("one row")
        client.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 5000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_STATE_HOME"] = folder
        for size in args.sizes:
            print(json.dumps(measure(size, Path(folder))))


if __name__ == "__main__":
    main()
