"""The review page of a run: ``leads.argil.html`` beside ``leads.argil.csv``.

One HTML file with its CSS and script inline, so that it opens from a folder, a mail or an
archive with no network and loads nothing by itself: a preview (an Argil page, which plays
and tracks) is fetched only when a person asks for it, by a link or by "Show here".

Every value shown comes from a sheet or from the API: the template autoescapes all of it, and
a URL becomes a link only when it is http(s), so that a lead named ``<script>`` or a
``javascript:`` preview URL stays text.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, Template


@dataclass(frozen=True)
class ReviewRow:
    """One sheet row as the review page shows it."""

    number: int  # the row number the spreadsheet shows
    name: str  # the video's name (from the row); "" when the row made none
    status: str  # argil_status
    credits: float | None  # the exact price of rendering it; None when unknown
    credits_exact: bool  # False: a local estimate stood in for the exact price
    moments: tuple[str, ...]  # each moment's transcript text, or "(audio)"
    preview_url: str  # the API's previewUrl ("" when none)
    video_url: str  # the finished video's URL ("" when none)
    file: str  # a downloaded MP4's path relative to the page's folder ("" when none)
    error: str  # argil_error
    approved: bool | None  # render.when's verdict; None when the config has no render.when


@dataclass(frozen=True)
class ReviewTotals:
    """The run's sums, shown above the rows."""

    drafts: int  # rows whose video is IDLE
    approved: int  # rows approved for rendering (0 without render.when)
    rendered: int  # rows rendering or DONE
    credits_estimated: float  # the sum of credits over the drafts not yet rendered
    credits_spent: float  # the sum of credits over the rows rendered (or rendering)
    balance_after: float | None  # the API's newBalance after the drafts, when known


# The XLSX output's status colours (pipeline.sheets.xlsx_output), so that the sheet and the
# page agree on what is done, failed and still going.
_DONE = frozenset({"DONE"})
_FAILED = frozenset({"FAILED", "CONTENT_MODERATED", "INVALID"})
_GOING = frozenset({"IDLE", "GENERATING_AUDIO", "GENERATING_VIDEO", "PENDING", "IN_DOUBT"})
_DRAFT = frozenset({"IDLE"})
_RENDERED = frozenset({"GENERATING_AUDIO", "GENERATING_VIDEO", "DONE"})
# The filter lists the statuses in docs/output.md's order, the one a reader knows; a word
# added to the engine later still shows, after these.
_STATUS_ORDER = (
    "IDLE",
    "GENERATING_AUDIO",
    "GENERATING_VIDEO",
    "DONE",
    "FAILED",
    "CONTENT_MODERATED",
    "INVALID",
    "SKIPPED",
    "CHANGED",
    "PENDING",
    "IN_DOUBT",
    "NOT_RUN",
)
_EMBED = re.compile(r"(?:^|&)embed=")
_ESTIMATE_TITLE = "a local estimate: the API's exact price was not known"


def review_path(output: Path) -> Path:
    """The review page of ``output``, beside it with the same stem: ``leads.argil.csv`` ->
    ``leads.argil.html``."""
    output = Path(output)
    return output.with_name(f"{output.stem}.html")


def write_review_page(
    path: Path,
    *,
    title: str,
    rows: Sequence[ReviewRow],
    totals: ReviewTotals,
    generated_at: datetime,
) -> None:
    """Write the review page to ``path``: under a temporary name in the same folder, then
    os.replace()d into place, so that a browser showing the page never reads half of one.
    An OSError is the caller's: a page that cannot be written need not stop a run."""
    path = Path(path)
    views = [_RowView.of(row) for row in rows]
    page = _template().generate(
        title=title,
        rows=views,
        total_rows=len(views),
        statuses=_statuses(rows),
        totals=_totals_view(totals, rows),
        has_approval=any(row.approved is not None for row in rows),
        has_estimates=any(v.credits_estimate for v in views),
        estimate_title=_ESTIMATE_TITLE,
        generated_text=_when(generated_at),
        generated_iso=generated_at.isoformat(timespec="seconds"),
    )
    folder = path.parent
    temp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    # os.open with 0o666 lets the umask decide, as for any new file: the page is for sharing
    # (tempfile.mkstemp would make it its owner's only).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            # Streamed: a page of 100,000 rows is never one string in memory.
            out.writelines(page)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


@functools.cache
def _template() -> Template:
    # autoescape=True, not select_autoescape: the template's name ends in .j2, which
    # select_autoescape would not escape.
    environment = Environment(
        loader=PackageLoader("pipeline.review", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template("review.html.j2")


@dataclass(frozen=True)
class _RowView:
    """A row with what the template shows already decided: the template only places it."""

    number: int
    name: str
    status: str
    status_class: str
    credits_text: str
    credits_estimate: bool
    moments: tuple[str, ...]
    preview_url: str
    embed_url: str
    video_url: str
    file_href: str
    file_name: str
    # A URL that is not http(s) is shown as text, not dropped: it is still the API's answer.
    odd_urls: tuple[str, ...]
    error: str
    approval: str

    @classmethod
    def of(cls, row: ReviewRow) -> _RowView:
        preview = _web_url(row.preview_url)
        video = _web_url(row.video_url)
        odd = tuple(u for u in (row.preview_url, row.video_url) if u and not _web_url(u))
        known = row.credits is not None and math.isfinite(row.credits)
        approval = ""
        if row.approved is not None:
            approval = "approved" if row.approved else "waiting for approval"
        return cls(
            number=row.number,
            name=row.name,
            status=row.status,
            status_class=_status_class(row.status),
            credits_text=_credits(row.credits) if row.credits is not None and known else "",
            credits_estimate=known and not row.credits_exact,
            moments=row.moments,
            preview_url=preview,
            embed_url=_embed_url(preview) if preview else "",
            video_url=video,
            file_href=_file_href(row.file) if row.file else "",
            file_name=Path(row.file).name if row.file else "",
            odd_urls=odd,
            error=row.error,
            approval=approval,
        )


@dataclass(frozen=True)
class _TotalsView:
    drafts: int
    approved: int
    rendered: int
    estimated_text: str
    estimated_note: str  # why the estimate is approximate; "" when every price is exact
    spent_text: str
    spent_note: str
    balance_text: str  # "" when the API's balance after the drafts is not known


def _totals_view(totals: ReviewTotals, rows: Sequence[ReviewRow]) -> _TotalsView:
    balance = totals.balance_after
    return _TotalsView(
        drafts=totals.drafts,
        approved=totals.approved,
        rendered=totals.rendered,
        estimated_text=_credits(totals.credits_estimated),
        estimated_note=_sum_note([r for r in rows if r.status in _DRAFT]),
        spent_text=_credits(totals.credits_spent),
        spent_note=_sum_note([r for r in rows if r.status in _RENDERED]),
        balance_text=_credits(balance) if balance is not None else "",
    )


def _sum_note(rows: Sequence[ReviewRow]) -> str:
    """Why a sum over ``rows`` is not the exact price: some are local estimates, or have no
    price at all (left out of the sum)."""
    unknown = sum(1 for r in rows if r.credits is None or not math.isfinite(r.credits))
    estimated = sum(1 for r in rows if r.credits is not None and not r.credits_exact)
    notes = []
    if estimated == 1:
        notes.append("1 price is a local estimate")
    elif estimated:
        notes.append(f"{estimated:,} prices are local estimates")
    if unknown == 1:
        notes.append("1 row with no price is left out")
    elif unknown:
        notes.append(f"{unknown:,} rows with no price are left out")
    return "; ".join(notes)


def _status_class(status: str) -> str:
    if status in _DONE:
        return "done"
    if status in _FAILED:
        return "failed"
    if status in _GOING:
        return "going"
    return "other"


def _statuses(rows: Sequence[ReviewRow]) -> list[tuple[str, int]]:
    """Each status on the page with its number of rows, for the filter."""
    counts = Counter(row.status for row in rows)
    rank = {status: i for i, status in enumerate(_STATUS_ORDER)}
    ordered = sorted(counts, key=lambda s: (rank.get(s, len(rank)), s))
    return [(status, counts[status]) for status in ordered]


def _credits(value: float) -> str:
    """``1,234.5``: at most two decimals, none when whole (credits are mostly whole)."""
    if not math.isfinite(value):
        return "?"
    text = f"{value:,.2f}"
    return text.rstrip("0").rstrip(".")


def _when(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    zone = moment.tzname()
    return f"{text} {zone}" if zone else text


def _web_url(url: str) -> str:
    """``url`` when it is an http(s) address, else "": an href of the API's answer must not
    be able to run script (``javascript:``) on the reader's page."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return url.strip()


def _embed_url(preview: str) -> str:
    """The preview's embeddable form (the API's docs: add ``embed=true`` to the URL), the
    rest of the URL kept as the API wrote it."""
    parts = urlsplit(preview)
    if _EMBED.search(parts.query):
        return preview
    query = f"{parts.query}&embed=true" if parts.query else "embed=true"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _file_href(file: str) -> str:
    """A relative href to the downloaded file: each path part percent-encoded, so that a
    name with ``#``, ``?``, ``:`` or a space is still that file, never a scheme."""
    href = quote(Path(file).as_posix(), safe="/")
    # "//host/x" would name another host (a network path) where a local file was meant.
    return re.sub("^/{2,}", "/", href)
