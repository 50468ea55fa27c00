"""``argil-batch avatars``, ``voices`` and ``styles``: the ids a config needs, as a table for
a terminal or a JSON array for scripts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.argil.catalogue import KINDS, Kind, list_entries, matches
from pipeline.argil.client import ArgilError
from pipeline.cli.common import fail, note, user_errors
from pipeline.config import DEFAULT_READ_RPM
from pipeline.errors import ApiRefusedError
from pipeline.settings import api_endpoint, make_client

SUMMARIES: dict[Kind, str] = {
    "avatars": "List the avatars and their gestures (ids for avatar_id, slugs).",
    "voices": "List the voices (ids for voice_id).",
    "styles": "List the subtitle styles (ids for subtitles.style_id).",
}


def fetch(
    kind: Kind, *, base_url: str | None, sandbox: bool, search: str | None
) -> list[dict[str, Any]]:
    """One list of the catalogue, narrowed by ``search``; ApiRefusedError when the API could
    not be asked or refused."""

    async def read(url: str, key: str) -> list[dict[str, Any]]:
        # A handful of reads: paced at the read limit, not at a run's write rate.
        async with make_client(None, url, key, rpm=DEFAULT_READ_RPM) as client:
            return await list_entries(client, kind)

    try:
        with api_endpoint(sandbox=sandbox, base_url=base_url) as (url, key):
            entries = asyncio.run(read(url, key))
    except ArgilError as exc:
        raise ApiRefusedError(f"cannot list the {kind}: {exc}") from None
    return [entry for entry in entries if matches(entry, search)]


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


def _command(kind: Kind) -> click.Command:
    @click.command(name=kind, help=SUMMARIES[kind])
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON array, for scripts.")
    @click.option(
        "--search", metavar="TEXT", help="Only entries with every word of TEXT in them, any case."
    )
    @click.option("--base-url", help="API base URL (default: $ARGIL_BASE_URL or the Argil API).")
    @click.option("--sandbox", is_flag=True, help="Ask the local emulator: no key, no network.")
    def command(as_json: bool, search: str | None, base_url: str | None, sandbox: bool) -> None:
        if sandbox and base_url:
            fail("--sandbox asks a local emulator; drop --base-url or --sandbox")
        with user_errors():
            entries = fetch(kind, base_url=base_url, sandbox=sandbox, search=search)
        if as_json:
            click.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        elif entries:
            Console().print(table(kind, entries))
        else:
            note(f"no {kind} match {search!r}" if search else f"the API lists no {kind}")

    return command


COMMANDS = [_command(kind) for kind in KINDS]
