"""The review page as written: every row, every value as text (a lead named ``<script>`` too),
nothing fetched at load, the totals, and a write that is whole or not at all."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pipeline.review import ReviewRow, ReviewTotals, review_path, write_review_page

SCRIPT_NAME = "<script>alert(1)</script>"
# Port 9 (discard) on the loopback: a preview a test browser opens is refused at once, and
# nothing leaves the machine.
PREVIEW = "http://127.0.0.1:9/preview"
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _row(number: int, status: str, **fields: Any) -> ReviewRow:
    row = ReviewRow(
        number=number,
        name=f"Intro for lead {number}",
        status=status,
        credits=10.0,
        credits_exact=True,
        moments=(f"Hello lead {number}",),
        preview_url=f"{PREVIEW}/v{number}",
        video_url="",
        file="",
        error="",
        approved=None,
    )
    return replace(row, **fields)


def sample_rows() -> list[ReviewRow]:
    """A run of each kind of row: drafts (one priced by a local estimate, one named like a
    script), rendered and rendering videos, a refused row and one never sent."""
    return [
        _row(2, "IDLE", moments=("Hi Ada", "(audio)")),
        _row(3, "IDLE", name=SCRIPT_NAME, credits=7.5, credits_exact=False),
        _row(
            4,
            "DONE",
            video_url="https://cdn.example.com/v4.mp4",
            file="videos/row 4 #1.mp4",
        ),
        _row(5, "GENERATING_VIDEO"),
        _row(6, "FAILED", error="moments[0]: the avatar is unknown", credits=None),
        _row(7, "INVALID", name="", moments=(), preview_url="", credits=None),
    ]


def sample_totals() -> ReviewTotals:
    return ReviewTotals(
        drafts=2,
        approved=0,
        rendered=2,
        credits_estimated=17.5,
        credits_spent=20.0,
        balance_after=1234.5,
    )


def write_sample(path: Path, rows: Sequence[ReviewRow] | None = None) -> Path:
    write_review_page(
        path,
        title="leads.csv",
        rows=sample_rows() if rows is None else rows,
        totals=sample_totals(),
        generated_at=WHEN,
    )
    return path


_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class ParsedPage(HTMLParser):
    """A page's elements as the standard library reads them: each with its attributes and the
    text inside it (a script's code is its text, never elements)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self._open: list[tuple[str, list[str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text: list[str] = []
        self.elements.append((tag, dict(attrs), text))
        if tag not in _VOID:
            self._open.append((tag, text))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for _, text in self._open:
            text.append(data)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs, _ in self.elements if tag == name]

    def by_id(self, ident: str) -> tuple[str, dict[str, str | None], str]:
        found = [(t, a, "".join(x)) for t, a, x in self.elements if a.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]

    def text(self, ident: str) -> str:
        return " ".join(self.by_id(ident)[2].split())

    def rows(self) -> dict[str, dict[str, str | None]]:
        """Each row element by its id (``row-12``)."""
        return {
            str(attrs["id"]): attrs
            for _, attrs, _ in self.elements
            if str(attrs.get("id", "")).startswith("row-")
        }

    def scripts(self) -> list[str]:
        return ["".join(text) for tag, _, text in self.elements if tag == "script"]


@pytest.fixture
def page(tmp_path: Path) -> str:
    return write_sample(tmp_path / "leads.argil.html").read_text(encoding="utf-8")


def test_every_row_is_on_the_page_with_its_status(page: str) -> None:
    rows = ParsedPage(page).rows()
    assert {k: v["data-status"] for k, v in rows.items()} == {
        f"row-{r.number}": r.status for r in sample_rows()
    }
    assert not any("hidden" in attrs for attrs in rows.values())
    for row in sample_rows():
        assert row.name in ParsedPage(page).text(f"row-{row.number}")


def test_a_name_is_text_never_markup(page: str) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT_NAME not in page
    parsed = ParsedPage(page)
    assert len(parsed.scripts()) == 1  # the page's own
    assert SCRIPT_NAME in parsed.text("row-3")


def test_the_title_is_text_too(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    write_review_page(
        path, title=SCRIPT_NAME, rows=sample_rows(), totals=sample_totals(), generated_at=WHEN
    )
    page = path.read_text(encoding="utf-8")
    assert page.count("<script") == 1
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page


def test_nothing_is_fetched_at_load(page: str) -> None:
    assert 'src="http' not in page
    assert '<link rel="stylesheet"' not in page
    assert "@import" not in page
    assert "url(http" not in page
    parsed = ParsedPage(page)
    fetching = ("link", "img", "iframe", "video", "audio", "source", "object", "embed")
    assert [tag for tag, _, _ in parsed.elements if tag in fetching] == []
    assert [tag for tag, attrs, _ in parsed.elements if "src" in attrs] == []


def test_the_preview_iframe_is_made_by_the_script_on_a_click(page: str) -> None:
    parsed = ParsedPage(page)
    assert "<iframe" not in page
    (script,) = parsed.scripts()
    assert 'createElement("iframe")' in script and '"click"' in script
    buttons = [a for a in parsed.tags("button") if a.get("data-kind") == "preview"]
    assert buttons[0]["data-embed"] == f"{PREVIEW}/v2?embed=true"
    previews = [a for a in parsed.tags("a") if a.get("href") == f"{PREVIEW}/v2"]
    assert previews == [{"href": f"{PREVIEW}/v2", "target": "_blank", "rel": "noopener noreferrer"}]


def test_the_totals_are_at_the_top(page: str) -> None:
    parsed = ParsedPage(page)
    assert parsed.text("total-drafts") == "2"
    assert parsed.text("total-rendered") == "2"
    # One draft's price is a local estimate: the sum says so.
    assert parsed.text("total-estimated") == "≈ 17.5"
    assert parsed.by_id("total-estimated")[2] == "≈\u202f17.5"
    assert parsed.text("total-spent") == "20"
    assert parsed.text("total-balance") == "1,234.5"
    assert parsed.by_id("generated-at")[1]["datetime"] == "2024-05-01T12:30:00+00:00"
    assert parsed.text("generated-at") == "2024-05-01 12:30:00 UTC"
    assert page.index('id="total-drafts"') < page.index('id="row-2"')


def test_a_balance_not_known_and_no_render_when_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    totals = replace(sample_totals(), balance_after=None)
    write_review_page(path, title="t", rows=sample_rows(), totals=totals, generated_at=WHEN)
    page = path.read_text(encoding="utf-8")
    assert 'id="total-balance"' not in page
    assert 'id="total-approved"' not in page
    assert ">Approval</th>" not in page and 'data-label="Approval"' not in page


def test_approval_shows_when_the_config_has_render_when(tmp_path: Path) -> None:
    rows = [_row(2, "IDLE", approved=True), _row(3, "IDLE", approved=False)]
    path = write_sample(tmp_path / "page.html", rows)
    parsed = ParsedPage(path.read_text(encoding="utf-8"))
    assert parsed.text("total-approved") == "0"  # the totals are the caller's
    assert parsed.text("row-2").endswith("approved")
    assert parsed.text("row-3").endswith("waiting for approval")


def test_a_local_estimate_is_marked_and_explained(page: str) -> None:
    parsed = ParsedPage(page)
    assert "≈" in parsed.text("row-3")
    assert "≈" not in parsed.text("row-2")
    titles = [a["title"] for a in parsed.tags("span") if a.get("class") == "estimate"]
    assert "a local estimate: the API's exact price was not known" in titles


def test_statuses_are_coloured_and_filterable(page: str) -> None:
    parsed = ParsedPage(page)
    classes = [a["class"] for a in parsed.tags("span") if str(a.get("class")).startswith("status")]
    assert classes == [
        "status status-going",
        "status status-going",
        "status status-done",
        "status status-going",
        "status status-failed",
        "status status-failed",
    ]
    options = [
        (attrs["value"], " ".join("".join(text).split()))
        for tag, attrs, text in parsed.elements
        if tag == "option"
    ]
    assert options == [
        ("all", "all (6)"),
        ("IDLE", "IDLE (2)"),
        ("GENERATING_VIDEO", "GENERATING_VIDEO (1)"),
        ("DONE", "DONE (1)"),
        ("FAILED", "FAILED (1)"),
        ("INVALID", "INVALID (1)"),
    ]
    assert parsed.text("shown-count") == "6 of 6 rows shown"
    assert parsed.by_id("script-errors")[1].keys() == {"id", "hidden"}


def test_a_downloaded_file_is_linked_relative_and_encoded(page: str) -> None:
    parsed = ParsedPage(page)
    hrefs = [a["href"] for a in parsed.tags("a")]
    assert "videos/row%204%20%231.mp4" in hrefs
    # The local copy stands in for the online one.
    assert "https://cdn.example.com/v4.mp4" not in hrefs


def test_the_video_url_is_linked_when_no_file_was_downloaded(tmp_path: Path) -> None:
    rows = [_row(2, "DONE", video_url="https://cdn.example.com/v2.mp4")]
    parsed = ParsedPage(write_sample(tmp_path / "p.html", rows).read_text(encoding="utf-8"))
    assert "https://cdn.example.com/v2.mp4" in [a["href"] for a in parsed.tags("a")]


def test_a_url_that_is_not_http_stays_text(tmp_path: Path) -> None:
    rows = [_row(2, "IDLE", preview_url="javascript:alert(2)", file="javascript:alert(3)")]
    page = write_sample(tmp_path / "p.html", rows).read_text(encoding="utf-8")
    parsed = ParsedPage(page)
    assert [a["href"] for a in parsed.tags("a")] == ["javascript%3Aalert%283%29"]
    assert 'data-kind="preview"' not in page
    assert "javascript:alert(2)" in parsed.text("row-2")


def test_the_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "leads.argil.html"
    path.write_text("the previous page", encoding="utf-8")
    write_sample(path)
    assert [p.name for p in tmp_path.iterdir()] == ["leads.argil.html"]
    assert path.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_a_failed_write_keeps_the_previous_page_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "leads.argil.html"
    path.write_text("the previous page", encoding="utf-8")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        write_sample(path)
    assert [p.name for p in tmp_path.iterdir()] == ["leads.argil.html"]
    assert path.read_text(encoding="utf-8") == "the previous page"


def test_the_page_is_readable_by_others_as_any_new_file(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = write_sample(tmp_path / "leads.argil.html")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("output", "page"),
    [
        ("leads.argil.csv", "leads.argil.html"),
        ("leads.argil.xlsx", "leads.argil.html"),
        ("out/leads.sandbox.argil.tsv", "out/leads.sandbox.argil.html"),
        ("report", "report.html"),
    ],
)
def test_review_path_is_beside_the_output_with_its_stem(output: str, page: str) -> None:
    assert review_path(Path(output)) == Path(page)
