"""The API's catalogue at hand: avatars (with their gestures), voices, subtitle styles.

What ``argil-batch avatars``, ``voices`` and ``styles`` show, so a config is filled from the
command line rather than from the web app. Every page of a paged list is followed to its end.

Exceptions (one line each for the user):
    CatalogueError              the API could not be asked, or refused (bad key, unreachable)
    JobError (pipeline.job)     no API key, or a base URL that is not https (nor loopback)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any, Literal

from rich.table import Table
from rich.text import Text

from pipeline.argil.client import ArgilClient, ArgilError
from pipeline.job import SANDBOX_KEY, api_access

Kind = Literal["avatars", "voices", "styles"]
KINDS: tuple[Kind, ...] = ("avatars", "voices", "styles")
# Catalogue calls are a handful of reads: paced at the read limit Argil's newer API documents,
# not at a run's write rate.
READ_RPM = 600.0


class CatalogueError(Exception):
    """The catalogue could not be fetched; the message is one line for the user."""


async def _fetch(client: ArgilClient, kind: Kind) -> list[dict[str, Any]]:
    if kind == "avatars":
        return [
            {
                "id": a.id,
                "name": a.name or "",
                "gestures": [
                    {"label": g.label or "", "slug": g.slug, "startFrame": g.start_frame}
                    for g in a.gestures
                ],
            }
            for a in await client.list_avatars()
        ]
    if kind == "voices":
        return [{"id": v.id, "name": v.name or ""} for v in await client.list_voices()]
    return [{"id": s.id, "name": s.name or ""} for s in await client.list_subtitle_styles()]


@contextlib.contextmanager
def _sandbox() -> Iterator[str]:
    from pipeline.argil.emulator import EmulatorServer, EmulatorSettings

    with EmulatorServer(EmulatorSettings()) as server:
        yield server.base_url


def fetch_catalogue(
    kind: Kind,
    *,
    base_url: str | None = None,
    sandbox: bool = False,
    api_key: str | None = None,
    search: str | None = None,
) -> list[dict[str, Any]]:
    """Every entry of one list of the catalogue, in the API's order, narrowed by ``search``.

    Entries are plain JSON objects: ``{id, name}``, and for avatars ``gestures: [{label, slug,
    startFrame}]``."""
    with contextlib.ExitStack() as stack:
        if sandbox:
            url, key = stack.enter_context(_sandbox()), SANDBOX_KEY
        else:
            url, key = api_access(base_url, api_key)
        entries = asyncio.run(_fetch_all(kind, url, key))
    return [entry for entry in entries if matches(entry, search)]


async def _fetch_all(kind: Kind, base_url: str, api_key: str) -> list[dict[str, Any]]:
    try:
        async with ArgilClient(api_key, base_url, rpm=READ_RPM) as client:
            return await _fetch(client, kind)
    except ArgilError as exc:
        raise CatalogueError(f"cannot list the {kind}: {exc}") from None


def matches(entry: dict[str, Any], search: str | None) -> bool:
    """Every word of ``search`` appears, in any case, in the entry's id, name or one of its
    gestures' labels and slugs."""
    if not search:
        return True
    texts = [entry.get("id", ""), entry.get("name", "")]
    for gesture in entry.get("gestures") or []:
        texts += [gesture.get("label") or "", gesture.get("slug") or ""]
    haystack = " ".join(texts).casefold()
    return all(word in haystack for word in search.casefold().split())


def table(kind: Kind, entries: list[dict[str, Any]]) -> Table:
    """A table for a terminal: ids first, as a config names them."""
    titles = {"avatars": "Avatars", "voices": "Voices", "styles": "Subtitle styles"}
    shown = Table(title=f"{titles[kind]} ({len(entries)})", title_justify="left")
    shown.add_column("id", style="bold", no_wrap=True, overflow="fold")
    shown.add_column("name")
    if kind == "avatars":
        shown.add_column("gestures (slug: label)")
    for entry in entries:
        cells = [entry["id"], entry["name"]]
        if kind == "avatars":
            gestures = entry["gestures"]
            cells.append("\n".join(f"{g['slug']}: {g['label']}" for g in gestures) or "-")
        # Text, not markup: a name like "[bold]" is shown as written.
        shown.add_row(*(Text(cell) for cell in cells))
    return shown
