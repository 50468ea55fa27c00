"""A Google Sheet as the sheet, over real HTTP: the project's fake of the Sheets API (and a
stand-in written apart from it, see ``sheets_standin``) and the Argil emulator. Every result
lands on its own lead's row while colleagues insert, sort and delete rows; no cell outside the
``argil_*`` columns changes; no other tab is touched; no formula is written; 429s are waited
out; a lost state file makes no second video; each refusal is one line and exit 2."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google_sheets_worlds import SHEET_ID, Calc, Num, Sheets, make_sheets
from support import CLI_KEY, LEAD_HEADERS, lead, leads_config

from pipeline.emulator import EmulatorServer
from pipeline.engine import run_job
from pipeline.gsheets import GoogleSheetRef
from pipeline.settings import JobSpec, RunOptions

pytestmark = pytest.mark.slow

URL = f"https://docs.google.com/spreadsheets/d/{SHEET_ID}/edit#gid=0"
EVIL = '=HYPERLINK("http://evil.example/x","click me")'
OTHER_TAB = [["Owner", "Note"], ["Ana", "=not a formula either"], ["Bo", "0042"]]


def lead_rows(count: int, start: int = 0) -> list[list[object]]:
    rows: list[list[object]] = [lead(i) for i in range(start, start + count)]
    rows[min(3, count - 1)][1] = EVIL  # a lead whose name reads like a formula
    return rows


@pytest.fixture(params=["own fake", "stand-in"])
def sheets(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Sheets]:
    """A Sheets server (the project's fake, or the stand-in written apart), a service account's
    key file in GOOGLE_APPLICATION_CREDENTIALS, ARGIL_BATCH_SHEETS_URL pointing at it."""
    with make_sheets(request.param, tmp_path) as made:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(made.key_file))
        monkeypatch.setenv("ARGIL_BATCH_SHEETS_URL", made.base_url)
        yield made


def seed(sheets: Sheets, rows: list[list[object]], **grid: Any) -> None:
    """The leads tab: a title row above the header, the leads; and a tab of someone else's."""
    leads = [["Q3 outbound: leads"], list(LEAD_HEADERS), *rows]
    sheets.add(
        {"Leads": leads, "Other": [list(r) for r in OTHER_TAB]}, editors=[sheets.email], **grid
    )


def spec(
    config: Path, emulator: EmulatorServer, *, sleep: Callable[[float], None], **more: Any
) -> JobSpec:
    return JobSpec(
        sheet=GoogleSheetRef(SHEET_ID, 0),
        config=config,
        base_url=emulator.base_url,
        api_key=CLI_KEY,
        sheets_sleep=sleep,
        **more,
    )


def table(sheets: Sheets) -> list[dict[str, str]]:
    """The leads tab's data rows as a person sees them, by header (row 2 is the header)."""
    shown = sheets.shown("Leads")
    header = shown[1]
    return [
        dict(zip(header, row + [""] * (len(header) - len(row)), strict=True))
        for row in shown[2:]
        if any(row)
    ]


def assert_own_rows(sheets: Sheets, emulator: EmulatorServer) -> list[dict[str, str]]:
    """Every row that has a video id holds its own lead's video: the name the video was made
    with says whose it is."""
    rows = table(sheets)
    videos = emulator.emulator.videos
    for row in rows:
        if row.get("argil_video_id"):
            made = videos[row["argil_video_id"]]
            assert made["name"] == f"Intro for {row['first_name']} at {row['company']}", row
            assert made["extras"]["argilBatchKey"].startswith(row["argil_row_key"]), row
    counts = emulator.emulator.count_by_batch_key()
    assert set(counts.values()) <= {1}, "a row was made twice"
    return rows


def user_cells(sheets: Sheets) -> list[list[str]]:
    """The tab's cells outside the result columns (those come after the user's four)."""
    return [row[: len(LEAD_HEADERS)] for row in sheets.shown("Leads")]


# --- the whole run ------------------------------------------------------------------------


def test_a_40_row_tab_gets_every_result_on_its_own_row_and_nothing_else(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], tmp_path: Path
) -> None:
    seed(sheets, lead_rows(40))
    before = user_cells(sheets)
    other = sheets.shown("Other")
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")

    result = cli("run", URL, "-c", config, "--base-url", emulator.base_url, "--no-progress")

    assert result.exit_code == 0, result.stderr
    assert f"Output: {URL} (written in place into the Google Sheet" in result.stderr
    rows = assert_own_rows(sheets, emulator)
    assert len(rows) == 40 and all(r["argil_status"] == "IDLE" for r in rows)
    assert all(r["argil_preview_url"].startswith("http") for r in rows)
    assert len(emulator.emulator.videos) == 40
    assert user_cells(sheets) == before, "a cell outside argil_* changed"
    assert sheets.shown("Other") == other, "another tab was touched"
    # The lead whose name reads like a formula: still text, and so is every result cell.
    evil = sheets.raw("Leads", 5, 1)
    assert evil == {"string": EVIL}
    assert all(sheets.raw("Leads", r, 1).get("formula") is None for r in range(2, 42))
    header = sheets.shown("Leads")[1]
    # The types a person reads: a date-time and a link, not text.
    updated = sheets.raw("Leads", 2, header.index("argil_updated_at"))
    assert isinstance(updated.get("number"), float) and "yyyy" in updated.get("pattern", "")
    assert sheets.raw("Leads", 2, header.index("argil_preview_url")).get("link")
    assert sheets.formulas_written() == 0


def test_the_state_file_lost_the_next_run_makes_no_video(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], tmp_path: Path
) -> None:
    seed(sheets, lead_rows(12))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")
    args = ("run", URL, "-c", config, "--base-url", emulator.base_url, "--no-progress", "--json")
    first = cli(*args)
    assert first.exit_code == 0, first.stderr
    state = Path(json.loads(first.stdout)["state"])
    assert state.is_relative_to(Path.home()) or "xdg-state" in str(state)
    state.unlink()

    second = cli(*args)

    assert second.exit_code == 0, second.stderr
    assert json.loads(second.stdout)["created"] == 0
    assert len(emulator.emulator.videos) == 12
    assert_own_rows(sheets, emulator)


def test_colleagues_insert_sort_and_delete_rows_between_two_writes(
    sheets: Sheets, emulator: EmulatorServer, tmp_path: Path
) -> None:
    seed(sheets, lead_rows(30))
    config = tmp_path / "c.yaml"
    # A pace that lets the run write several times while it sends.
    config.write_text(leads_config(api={"rpm": 600, "concurrency": 2}), encoding="utf-8")

    def insert_and_sort() -> None:
        # At the top, under the header: a new lead, pasted from another row with its results.
        copied = sheets.shown("Leads")[2][len(LEAD_HEADERS) :]
        assert copied, "the run wrote results before this edit"
        sheets.insert_row("Leads", 2, [*lead(100), *copied])
        sheets.sort("Leads", 2, column=2, descending=True)  # by company, Z to A

    def delete_one() -> None:
        shown = sheets.shown("Leads")
        done = next(i for i, row in enumerate(shown) if i > 1 and len(row) > 5 and row[5])
        sheets.delete_row("Leads", done)

    sheets.after_write(2, insert_and_sort)
    sheets.after_write(3, delete_one)
    outcome = run_job(spec(config, emulator, sleep=sheets.sleep, flush_interval=0.2))

    assert sheets.writes >= 4, "the edits came before the run's last write"
    assert outcome.exit_code == 0
    rows = assert_own_rows(sheets, emulator)
    assert len(rows) == 30  # 30 + 1 inserted - 1 deleted
    inserted = next(r for r in rows if r["email"] == "lead100@example.com")
    # Not in this run (the next one), and the results pasted with it, another lead's, cleared.
    assert inserted.get("argil_video_id", "") == inserted.get("argil_row_key", "") == ""
    assert any("no row in the sheet now" in note for note in outcome.notes)

    again = run_job(spec(config, emulator, sleep=sheets.sleep))

    assert again.summary.created == 1
    rows = assert_own_rows(sheets, emulator)
    assert all(r["argil_video_id"] for r in rows)
    assert len(emulator.emulator.videos) == 31


def test_the_tab_is_picked_by_name_when_the_url_names_none(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], config: Callable[..., Path]
) -> None:
    leads = [list(LEAD_HEADERS), *lead_rows(3)]
    later = [list(LEAD_HEADERS), *lead_rows(4, start=10)]
    sheets.add({"Leads": leads, "Q4 leads": later}, editors=[sheets.email])
    before = sheets.shown("Leads")
    url = URL.split("#")[0]

    result = cli("run", url, "-c", config(), "--sheet", "q4 leads", "--base-url", emulator.base_url)

    assert result.exit_code == 0, result.stderr
    assert "tab 'Q4 leads'" in result.stderr
    assert sheets.shown("Leads") == before
    written = sheets.shown("Q4 leads")
    assert all(len(row) > 5 and row[5] for row in written[1:])
    gid = sheets.gids["Q4 leads"]
    state = Path(os.environ["XDG_STATE_HOME"]) / "argil-batch" / "google-sheets"
    assert (state / f"{SHEET_ID}-gid{gid}.state").exists()
    status = cli("status", url, "--no-progress")  # the spreadsheet's one run, found
    assert status.exit_code == 0, status.stderr


def test_a_second_run_writes_only_what_changed(
    sheets: Sheets, emulator: EmulatorServer, tmp_path: Path
) -> None:
    seed(sheets, lead_rows(8))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")
    run_job(spec(config, emulator, sleep=sheets.sleep))
    before = sheets.writes

    again = run_job(spec(config, emulator, sleep=sheets.sleep))

    assert again.summary.created == 0
    # The result headers rewritten as they are (the check that it may write), and nothing else.
    assert sheets.writes == before + 1
    assert len(emulator.emulator.videos) == 8


def test_two_runs_over_one_tab_are_one_too_many(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], tmp_path: Path
) -> None:
    from pipeline import journal
    from pipeline.gsheets import google_state_path

    seed(sheets, lead_rows(3))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")
    state = google_state_path(GoogleSheetRef(SHEET_ID), 0, False)
    tab = state.with_name(state.name + ".sheet")
    tab.parent.mkdir(parents=True, exist_ok=True)

    with journal.output_lock(tab):
        # Another state file, the same tab: refused all the same.
        result = cli(
            "run", URL, "-c", config, "--base-url", emulator.base_url, "--state", tmp_path / "s"
        )

    assert result.exit_code == 4, result.stderr
    assert "Error: another run writes the Google Sheet 'Leads 2026', tab 'Leads'" in result.stderr
    assert emulator.emulator.videos == {}


def test_against_two_servers_the_project_did_not_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in for Google and an Argil-like server that answers a fifth of its creates
    with an earlier video: 40 rows, a colleague inserting, sorting and deleting between two
    writes, then the state file lost; each row ends with its own video, made once."""
    from collections import Counter

    from mixed_up_api import MixedUpApi

    config = tmp_path / "c.yaml"
    config.write_text(leads_config(api={"rpm": 600, "concurrency": 2}), encoding="utf-8")
    with make_sheets("stand-in", tmp_path) as sheets, MixedUpApi(stale_creates=0.2, seed=5) as api:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sheets.key_file))
        monkeypatch.setenv("ARGIL_BATCH_SHEETS_URL", sheets.base_url)
        seed(sheets, lead_rows(40))
        sheets.after_write(2, lambda: sheets.insert_row("Leads", 2, lead(100)))
        sheets.after_write(3, lambda: sheets.sort("Leads", 2, column=1, descending=True))
        sheets.after_write(4, lambda: sheets.delete_row("Leads", 10))

        def run(**more: Any) -> Any:
            return run_job(
                JobSpec(
                    sheet=GoogleSheetRef(SHEET_ID, 0),
                    config=config,
                    base_url=api.base_url,
                    api_key=CLI_KEY,
                    sheets_sleep=sheets.sleep,
                    options=RunOptions(doubt_delay=0, preflight=False),
                    **more,
                )
            )

        def check() -> list[dict[str, str]]:
            holders = api.holders()
            rows = table(sheets)
            for row in rows:
                if row.get("argil_video_id"):
                    made = api.videos[row["argil_video_id"]]
                    assert made["name"] == f"Intro for {row['first_name']} at {row['company']}"
                    assert holders[row["argil_video_id"]].startswith(row["argil_row_key"])
            assert set(Counter(holders.values()).values()) == {1}, "a row was made twice"
            return rows

        first = run(flush_interval=0.2)
        assert sheets.writes >= 5 and api.mixed_answers > 0
        assert first.exit_code == 0
        assert len(check()) == 40  # 40 + 1 inserted - 1 deleted
        google_state = Path(os.environ["XDG_STATE_HOME"]) / "argil-batch" / "google-sheets"
        for state in google_state.glob("*.state"):
            state.unlink()

        second = run()

        assert second.summary.created == 1  # the inserted lead; the rest found by the tag
        rows = check()
        assert all(row["argil_video_id"] for row in rows)
        assert len(api.videos) == 41


def test_the_sheets_quota_is_met_and_waited_out(
    sheets: Sheets, emulator: EmulatorServer, tmp_path: Path
) -> None:
    seed(sheets, lead_rows(10))
    sheets.limit(reads=2, writes=1)
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")

    outcome = run_job(spec(config, emulator, sleep=sheets.sleep))

    assert outcome.exit_code == 0
    assert sheets.rate_limited > 0
    assert all(r["argil_video_id"] for r in assert_own_rows(sheets, emulator))


def test_a_tab_too_narrow_for_the_results_is_grown(
    sheets: Sheets, emulator: EmulatorServer, tmp_path: Path
) -> None:
    seed(sheets, lead_rows(5), columns=len(LEAD_HEADERS))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")

    outcome = run_job(spec(config, emulator, sleep=sheets.sleep))

    assert outcome.exit_code == 0
    assert all(r["argil_video_id"] for r in assert_own_rows(sheets, emulator))


def test_a_sheet_left_unwritten_says_so_and_status_writes_it(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], tmp_path: Path
) -> None:
    seed(sheets, lead_rows(6))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")
    # Once the run has checked it may write (its first write), the sheet is unshared.
    sheets.after_write(1, lambda: sheets.share([]))

    result = cli("run", URL, "-c", config, "--base-url", emulator.base_url, "--no-progress")

    assert result.exit_code == 3, result.stderr
    assert "Error: the results could not be written into the Google Sheet" in result.stderr
    assert f"`argil-batch status {URL}` writes them" in result.stderr
    assert len(emulator.emulator.videos) == 6
    sheets.share([sheets.email])

    status = cli("status", URL, "--base-url", emulator.base_url, "--no-progress")

    assert status.exit_code == 0, status.stderr
    assert all(r["argil_video_id"] for r in assert_own_rows(sheets, emulator))


def test_a_token_that_expires_mid_run_is_renewed(
    sheets: Sheets, emulator: EmulatorServer, tmp_path: Path
) -> None:
    seed(sheets, lead_rows(20))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(api={"rpm": 1200, "concurrency": 2}), encoding="utf-8")
    # Two hours later on the server's clock: every token it gave is stale.
    sheets.after_write(2, lambda: sheets.clock.advance(7200))

    outcome = run_job(spec(config, emulator, sleep=sheets.sleep, flush_interval=0.2))

    assert outcome.exit_code == 0
    assert sheets.writes >= 3 and sheets.tokens == 2
    assert all(r["argil_video_id"] for r in assert_own_rows(sheets, emulator))


def test_a_renamed_tab_and_a_moved_header_are_found_again(
    sheets: Sheets, emulator: EmulatorServer, tmp_path: Path
) -> None:
    seed(sheets, lead_rows(20))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(api={"rpm": 1200, "concurrency": 2}), encoding="utf-8")

    def rename_and_push_down() -> None:
        sheets.rename_tab("Leads", "Leads (old)")
        sheets.insert_row("Leads (old)", 0, ["Updated nightly by argil-batch"])

    sheets.after_write(2, rename_and_push_down)
    outcome = run_job(spec(config, emulator, sleep=sheets.sleep, flush_interval=0.2))

    assert outcome.exit_code == 0
    shown = sheets.shown("Leads (old)")
    assert shown[0][0] == "Updated nightly by argil-batch" and shown[2][:4] == LEAD_HEADERS
    header = shown[2]
    rows = [
        dict(zip(header, row + [""] * (len(header) - len(row)), strict=True)) for row in shown[3:]
    ]
    assert len(rows) == 20 and all(row["argil_video_id"] for row in rows)
    for row in rows:
        made = emulator.emulator.videos[row["argil_video_id"]]
        assert made["name"] == f"Intro for {row['first_name']} at {row['company']}"


def test_a_header_renamed_mid_run_holds_the_results_back_until_it_is_put_back(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], tmp_path: Path
) -> None:
    seed(sheets, lead_rows(6))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")
    header = [*LEAD_HEADERS[:2], "Company", LEAD_HEADERS[3]]

    def rename_company() -> None:  # the column the video's name reads, renamed
        sheets.delete_row("Leads", 1)
        sheets.insert_row("Leads", 1, header)

    sheets.after_write(1, rename_company)
    result = cli("run", URL, "-c", config, "--base-url", emulator.base_url, "--no-progress")

    assert result.exit_code == 3, result.stderr
    assert (
        "Error: the results could not be written into the Google Sheet 'Leads 2026', tab "
        "'Leads' (no row holds its header (email, first_name, company, script) any more: put "
        "it back); every row's result is kept in "
    ) in result.stderr
    assert not any(len(row) > 5 and row[5] for row in sheets.shown("Leads")[2:])
    sheets.delete_row("Leads", 1)
    sheets.insert_row("Leads", 1, list(LEAD_HEADERS))

    status = cli("status", URL, "--no-progress")

    assert status.exit_code == 0, status.stderr
    assert all(r["argil_video_id"] for r in assert_own_rows(sheets, emulator))
    assert len(emulator.emulator.videos) == 6


def test_status_refreshes_the_sheet_in_place(
    sheets: Sheets,
    make_emulator: Callable[..., EmulatorServer],
    cli: Callable[..., Any],
    config: Callable[..., Path],
) -> None:
    quick = make_emulator(render_seconds=0.0)
    seed(sheets, lead_rows(5))
    made = cli("run", URL, "-c", config(), "--base-url", quick.base_url, "--render")
    assert made.exit_code == 0, made.stderr

    status = cli("status", URL, "--no-progress")

    assert status.exit_code == 0, status.stderr
    rows = assert_own_rows(sheets, quick)
    assert [row["argil_status"] for row in rows] == ["DONE"] * 5
    assert all(row["argil_video_url"].startswith("http") for row in rows)


def test_a_sort_between_a_writes_read_and_its_update_is_put_right_by_that_write(
    sheets: Sheets, emulator: EmulatorServer, tmp_path: Path
) -> None:
    # Sheets has no conditional write: the sort lands after the write read the tab and before
    # its batchUpdate, which puts results on the rows the sort brought there. The write is the
    # run's last (no refresh before it), the one a nightly job's people read.
    seed(sheets, lead_rows(8))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")
    sorted_once: list[bool] = []

    def sort_now() -> None:
        sheets.sort("Leads", 2, column=2, descending=True)  # by company, Z to A
        sorted_once.append(True)

    # The run's first write rewrites the result headers; the next read is its results' write.
    sheets.after_write(1, lambda: sheets.after_next_read(sort_now))
    outcome = run_job(spec(config, emulator, sleep=sheets.sleep, flush_interval=3600))

    assert outcome.exit_code == 0
    assert sorted_once, "the sort came before the run wrote its results"
    rows = assert_own_rows(sheets, emulator)
    assert [row["email"] for row in rows] == [f"lead{i}@example.com" for i in range(7, -1, -1)]
    assert all(row["argil_video_id"] and row["argil_status"] == "IDLE" for row in rows)
    assert not [note for note in outcome.notes if "changed under each pass" in note]


def test_a_colleague_sorting_through_every_pass_is_told_and_status_puts_it_right(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], tmp_path: Path
) -> None:
    seed(sheets, lead_rows(6))
    config = tmp_path / "c.yaml"
    config.write_text(leads_config(), encoding="utf-8")
    sorts: list[bool] = []
    sorting = True

    def sort_after_every_read() -> None:
        if sorting:
            sheets.sort("Leads", 2, column=2, descending=len(sorts) % 2 == 0)
            sorts.append(True)
            sheets.after_next_read(sort_after_every_read)

    sheets.after_write(1, lambda: sheets.after_next_read(sort_after_every_read))
    outcome = run_job(spec(config, emulator, sleep=sheets.sleep, flush_interval=3600))

    assert outcome.exit_code == 0
    told = f"`argil-batch status {URL}` checks that every result is on its own row"
    assert any(told in note for note in outcome.notes), outcome.notes
    assert len(sorts) == 4  # the write's four reads, no more quota spent on a sorting colleague

    sorting = False  # the colleague stops
    status = cli("status", URL, "--base-url", emulator.base_url, "--no-progress")

    assert status.exit_code == 0, status.stderr
    assert "changed under each pass" not in status.stderr
    rows = assert_own_rows(sheets, emulator)
    assert len(rows) == 6 and all(row["argil_video_id"] for row in rows)
    assert len(emulator.emulator.videos) == 6


# --- refused before anything is sent -------------------------------------------------------


def refused(cli: Callable[..., Any], emulator: EmulatorServer, config: Path, url: str = URL) -> str:
    result = cli("run", url, "-c", config, "--base-url", emulator.base_url, "--no-progress")
    assert result.exit_code == 2, result.stderr
    assert emulator.emulator.videos == {}
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Note: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_a_sheet_not_shared_names_the_account_to_share_it_with(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], config: Callable[..., Path]
) -> None:
    seed(sheets, lead_rows(3))
    sheets.share([])

    line = refused(cli, emulator, config())

    assert line == (
        f"Error: the Google Sheet {SHEET_ID} is not shared with the service account "
        f"{sheets.email}; open the sheet, click Share and add {sheets.email} as an editor"
    )


@pytest.mark.parametrize("written_before", [False, True])
def test_a_sheet_shared_to_view_only_is_refused_before_sending(
    sheets: Sheets,
    emulator: EmulatorServer,
    cli: Callable[..., Any],
    config: Callable[..., Path],
    written_before: bool,
) -> None:
    seed(sheets, lead_rows(3))
    if written_before:  # its result columns there already, from a run when it could edit
        assert cli("run", URL, "-c", config(), "--base-url", emulator.base_url).exit_code == 0
        sheets.insert_row("Leads", 2, lead(50))
        emulator.emulator.videos.clear()
    sheets.share([], viewers=[sheets.email])

    line = refused(cli, emulator, config())

    assert line.startswith(
        f"Error: the service account {sheets.email} may not edit the Google Sheet {SHEET_ID}"
    )
    assert line.endswith(f"share the sheet with {sheets.email} as an editor")


def test_no_key_file_is_one_line(
    sheets: Sheets,
    emulator: EmulatorServer,
    cli: Callable[..., Any],
    config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    seed(sheets, lead_rows(3))
    missing = tmp_path / "nowhere" / "key.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(missing))

    assert refused(cli, emulator, config()) == (
        f"Error: GOOGLE_APPLICATION_CREDENTIALS names {missing}, which does not exist; set it "
        "to the service account's JSON key file"
    )
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    assert refused(cli, emulator, config()) == (
        "Error: a Google Sheet is read and written as a Google service account: set "
        "GOOGLE_APPLICATION_CREDENTIALS to its JSON key file (docs/google-sheets.md says how "
        "to make one), or try it with --sandbox"
    )


def test_no_such_tab_lists_the_tabs(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], config: Callable[..., Path]
) -> None:
    seed(sheets, lead_rows(3))
    other_gid = sheets.gids["Other"]

    line = refused(cli, emulator, config(), URL.replace("gid=0", "gid=77"))

    assert line == (
        "Error: the Google Sheet 'Leads 2026' has no tab with gid 77 (deleted?); its tabs: "
        f"'Leads' (gid 0), 'Other' (gid {other_gid}); copy the tab's URL from the browser again"
    )


def test_a_key_google_refuses_is_one_line(
    sheets: Sheets,
    emulator: EmulatorServer,
    cli: Callable[..., Any],
    config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipeline.emulator.sheets import new_service_account

    seed(sheets, lead_rows(3))
    # A key of the right shape that the token service does not know (deleted, say).
    info, _ = new_service_account(json.loads(sheets.key_file.read_text())["token_uri"])
    unknown = tmp_path / "deleted-key.json"
    unknown.write_text(json.dumps(info), encoding="utf-8")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(unknown))

    line = refused(cli, emulator, config())

    assert line.startswith(f"Error: Google refused the service account {info['client_email']} (")
    assert line.endswith(
        "its key may have been deleted or disabled: create a new key "
        "(docs/google-sheets.md says how to make one)"
    )
    assert info["private_key"].splitlines()[1] not in line


def test_an_output_file_is_refused_for_a_google_sheet(
    emulator: EmulatorServer, cli: Callable[..., Any], config: Callable[..., Path]
) -> None:
    result = cli("run", URL, "-c", config(), "-o", "out.csv", "--base-url", emulator.base_url)

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: -o names an output file, but a Google Sheet gets its results back in place, "
        "in its argil_* columns; drop -o\n"
    )


def test_no_such_spreadsheet(
    sheets: Sheets, emulator: EmulatorServer, cli: Callable[..., Any], config: Callable[..., Path]
) -> None:
    seed(sheets, lead_rows(3))

    line = refused(cli, emulator, config(), URL.replace(SHEET_ID, "nope-nope"))

    assert line == (
        "Error: there is no Google Sheet nope-nope; check the URL (the id is the part after /d/)"
    )


def test_a_url_that_is_no_google_sheet_is_one_line(
    emulator: EmulatorServer, cli: Callable[..., Any], config: Callable[..., Path]
) -> None:
    line = refused(cli, emulator, config(), "https://example.com/leads.csv")

    assert line.startswith("Error: https://example.com/leads.csv is not a Google Sheets URL")


def test_cells_are_read_as_the_sheet_shows_them(sheets: Sheets, tmp_path: Path) -> None:
    import pipeline

    config = tmp_path / "ids.yaml"
    config.write_text(
        leads_config(
            input={"key": ["id"]},
            video={"name": "{{ id }} on {{ day }}: {{ total }}"},
            moments=[{"transcript": "Hello {{ who }}", "avatar_id": "avatar-emma"}],
        ),
        encoding="utf-8",
    )
    rows: list[list[object]] = [
        ["id", "day", "total", "who"],
        ["0042", Num(46082, "yyyy-mm-dd", "DATE"), Calc("=SUM(C5:C9)", 1250), "Ana"],
        [],  # a blank row: skipped, but counted
        [Num(7, "0000"), Num(46083.5, "yyyy-mm-dd hh:mm:ss", "DATE_TIME"), 12.5, "Bo"],
        ["0044", "2026-03-04", Calc("=1/0", "#DIV/0!"), "Cy"],
    ]
    sheets.add({"Leads": rows}, editors=[sheets.email])

    report = pipeline.validate(URL, config)

    plans = {plan.row: plan for plan in report.plans}
    assert sorted(plans) == [2, 4, 5]  # the rows as the sheet numbers them
    assert plans[2].body is not None and plans[2].body["name"] == "0042 on 2026-03-01: 1250"
    assert (
        plans[4].body is not None and plans[4].body["name"] == "0007 on 2026-03-02 12:00:00: 12.5"
    )
    # A formula that shows an error is its row's error, as in a workbook.
    assert plans[5].body is None
    assert "the cell holds the error #DIV/0!" in str(plans[5].errors)


def test_validate_and_init_read_the_sheet(
    sheets: Sheets, cli: Callable[..., Any], config: Callable[..., Path]
) -> None:
    seed(sheets, lead_rows(4))

    checked = cli("validate", URL, "-c", config())
    started = cli("init", URL)

    assert checked.exit_code == 0, checked.stderr
    assert "4 rows: 4 valid" in checked.stdout
    assert "header found on row 2, under a title row" in checked.stderr
    assert started.exit_code == 0, started.stderr
    assert f"argil-batch validate '{URL}' -c THIS_FILE" in started.stdout


def test_the_python_api_takes_the_url(
    sheets: Sheets, emulator: EmulatorServer, config: Callable[..., Path]
) -> None:
    import pipeline

    seed(sheets, lead_rows(5))

    frame = pipeline.run(URL, config(), base_url=emulator.base_url, api_key=CLI_KEY)

    assert len(frame) == 5 and frame["argil_video_id"].str.len().gt(0).all()
    assert all(r["argil_video_id"] for r in assert_own_rows(sheets, emulator))


def test_the_sandbox_needs_no_google_account(
    cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    root = Path(__file__).resolve().parents[2]
    url = "https://docs.google.com/spreadsheets/d/try-me/edit#gid=0"
    args = ("run", url, "-c", root / "configs" / "leads.yaml", "--sandbox", "--no-progress")

    first = cli(*args, key=None)
    second = cli(*args, key=None)

    assert first.exit_code == 0, first.stderr
    assert "8 created" in first.stderr
    assert second.exit_code == 0, second.stderr
    assert "0 created, 0 adopted, 8 already sent" in second.stderr
    view = next(line for line in first.stderr.splitlines() if "as a person would see it" in line)
    shown = Path(view.rsplit(": ", 1)[1]).read_text(encoding="utf-8")
    assert shown.count("IDLE") == 8


def test_a_damaged_sandbox_sheet_is_one_line(
    cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.gsheets.sandbox import sandbox_store

    store = sandbox_store()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text("{not json", encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    url = "https://docs.google.com/spreadsheets/d/try-me/edit#gid=0"

    result = cli("run", url, "-c", root / "configs" / "leads.yaml", "--sandbox", key=None)

    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: cannot read the fake Google Sheets' state file {store} (JSONDecodeError); "
        "delete it to start them afresh\n"
    )
