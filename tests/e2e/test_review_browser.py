"""The review page in a real browser: Debian's Chromium, headless, with no driver. It loads
the page from its file, runs its script, and prints the DOM as the script left it; the test
reads that DOM. The filter, a link to it (``#status=IDLE``), a click on "Show here", and a lead
named like a script are checked as a reader's browser runs them."""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import LEAD_HEADERS, leads_config

from pipeline.emulator import EmulatorServer

from ..unit.review.test_page import PREVIEW, SCRIPT_NAME, ParsedPage, sample_rows, write_sample

pytestmark = pytest.mark.slow

# Long enough for a slow CI machine's first start; a run takes about a second.
_TIMEOUT = 60


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    return found


def _dump_dom(page: Path, profile: Path, fragment: str = "") -> ParsedPage:
    """The DOM of ``page`` once its script has run, as Chromium prints it."""
    url = page.resolve().as_uri() + fragment
    tail = [
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        # A profile of the test's own: no lock shared with another run, nothing in HOME.
        f"--user-data-dir={profile}",
        # Virtual time: the page's timers and loads settle before the dump, without waiting.
        "--virtual-time-budget=5000",
        "--dump-dom",
        url,
    ]
    # --headless=new is the browser itself, headless; a Chromium older than 109 knows only
    # the old --headless, and prints no DOM with the new flag.
    for headless in ("--headless=new", "--headless"):
        done = subprocess.run(
            [_chromium(), headless, *tail],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=_TIMEOUT,
            check=False,
        )
        if "<html" in done.stdout:
            return ParsedPage(done.stdout)
    raise AssertionError(f"Chromium printed no DOM (exit {done.returncode}):\n{done.stderr}")


def _ready(parsed: ParsedPage) -> None:
    """The script ran to its end, with no error."""
    assert parsed.text("script-errors") == ""
    (body,) = parsed.tags("body")
    assert body.get("data-ready") == "1"


def test_a_link_to_the_drafts_shows_only_the_drafts(tmp_path: Path) -> None:
    page = write_sample(tmp_path / "leads.argil.html")
    parsed = _dump_dom(page, tmp_path / "profile", "#status=IDLE")
    _ready(parsed)
    rows = parsed.rows()
    assert set(rows) == {f"row-{r.number}" for r in sample_rows()}
    shown = {ident for ident, attrs in rows.items() if "hidden" not in attrs}
    assert shown == {"row-2", "row-3"}
    assert all(rows[ident]["data-status"] == "IDLE" for ident in shown)
    assert parsed.text("shown-count") == "2 of 6 rows shown"
    # The lead named like a script is its name on the page, and never ran.
    assert SCRIPT_NAME in parsed.text("row-3")
    assert len(parsed.scripts()) == 1


def test_without_a_link_every_row_shows(tmp_path: Path) -> None:
    page = write_sample(tmp_path / "leads.argil.html")
    parsed = _dump_dom(page, tmp_path / "profile")
    _ready(parsed)
    rows = parsed.rows()
    assert len(rows) == 6
    assert [ident for ident, attrs in rows.items() if "hidden" in attrs] == []
    assert parsed.text("shown-count") == "6 of 6 rows shown"
    assert SCRIPT_NAME in parsed.text("row-3")
    assert len(parsed.scripts()) == 1
    # Nothing was embedded by itself.
    assert parsed.tags("iframe") == []


def test_show_here_puts_the_preview_below_its_row(tmp_path: Path) -> None:
    page = write_sample(tmp_path / "leads.argil.html")
    # A person's click, made by a script after the page's own (the page is a copy).
    html = page.read_text(encoding="utf-8")
    click = '<script>document.querySelector("#row-2 button[data-kind=preview]").click();</script>'
    clicked = tmp_path / "clicked.html"
    clicked.write_text(html.replace("</body>", click + "</body>"), encoding="utf-8")
    parsed = _dump_dom(clicked, tmp_path / "profile")
    _ready(parsed)
    (frame,) = parsed.tags("iframe")
    assert frame["src"] == f"{PREVIEW}/v2?embed=true"
    assert frame["title"] == "Preview of row 2"
    # Inside the row's element, so that the filter hides it with its row.
    (row_open,) = [i for i, e in enumerate(parsed.elements) if e[1].get("id") == "row-2"]
    (row_next,) = [i for i, e in enumerate(parsed.elements) if e[1].get("id") == "row-3"]
    (frame_at,) = [i for i, e in enumerate(parsed.elements) if e[0] == "iframe"]
    assert row_open < frame_at < row_next
    buttons = [b for b in parsed.tags("button") if (b.get("data-embed") or "").startswith(PREVIEW)]
    assert buttons[0]["aria-expanded"] == "true"


def test_a_runs_own_page_shows_every_row_and_its_preview_link(
    emulator: EmulatorServer, cli: Callable[..., Any], tmp_path: Path
) -> None:
    """The page a real run writes beside its output, opened as a person would."""
    names = ["Ana", SCRIPT_NAME, "Bo", "Cy", "Dee", "Eve"]
    with (tmp_path / "leads.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LEAD_HEADERS)
        for i, name in enumerate(names):
            writer.writerow([f"lead{i}@example.com", name, f"Company {i}", f"Hi {i}! An idea."])
    (tmp_path / "c.yaml").write_text(leads_config(), encoding="utf-8")
    result = cli(
        "run", tmp_path / "leads.csv", "-c", tmp_path / "c.yaml", "--base-url", emulator.base_url
    )
    assert result.exit_code == 0, result.stderr
    page = tmp_path / "leads.argil.html"
    assert f"Review page: {page}" in result.stderr

    parsed = _dump_dom(page, tmp_path / "profile")

    _ready(parsed)
    rows = parsed.rows()
    assert sorted(rows) == [f"row-{n}" for n in range(2, 8)]
    assert SCRIPT_NAME in parsed.text("row-3")
    assert len(parsed.scripts()) == 1  # the page's own: the name is text
    links = [a.get("href") or "" for a in parsed.tags("a")]
    previews = {v["previewUrl"] for v in emulator.emulator.videos.values()}
    assert len(previews) == 6 and previews <= set(links)
    # Nothing fetched by itself: no frame, no image, no stylesheet.
    assert parsed.tags("iframe") == [] and parsed.tags("img") == [] and parsed.tags("link") == []
