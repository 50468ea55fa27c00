"""The API's catalogue: avatars (with their gestures), voices, subtitle styles.

A run's pre-flight reads it at once (:func:`fetch_catalogue`, a :class:`Catalogue` to check
rows against); ``argil-batch avatars``, ``voices`` and ``styles`` list one kind of it as plain
JSON entries (:func:`list_entries`), so a config is filled from the command line rather than
from the web app. Every page of a paged list is followed to its end.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.argil.client import ArgilClient
from pipeline.argil.models import Avatar, SubtitleStyle

Kind = Literal["avatars", "voices", "styles"]
KINDS: tuple[Kind, ...] = ("avatars", "voices", "styles")


@dataclass(frozen=True)
class Catalogue:
    avatars: dict[str, Avatar]
    voices: dict[str, str]  # id -> name
    styles: dict[str, str]  # id -> name


async def fetch_catalogue(client: ArgilClient, *, need_styles: bool) -> Catalogue:
    # All at once: the catalogue is one round trip before the first create, not two.
    styles_read = client.list_subtitle_styles() if need_styles else _nothing()
    avatars, voices, styles = await asyncio.gather(
        client.list_avatars(), client.list_voices(), styles_read
    )
    return Catalogue(
        avatars={a.id: a for a in avatars},
        voices={v.id: v.name or "" for v in voices},
        styles={s.id: s.name or "" for s in styles},
    )


async def _nothing() -> list[SubtitleStyle]:
    return []


async def list_entries(client: ArgilClient, kind: Kind) -> list[dict[str, Any]]:
    """Every entry of one list of the catalogue, in the API's order, as plain JSON objects:
    ``{id, name}``, and for avatars ``gestures: [{label, slug, startFrame}]``."""
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
