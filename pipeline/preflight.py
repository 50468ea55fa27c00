"""Pre-flight: check every row's avatar, voice, gesture and subtitle style against the API's
catalogue before anything is created.

A typo in an avatar id would otherwise cost one refused request per row, or worse, a video made
with the wrong gesture. The catalogue costs a few requests in all, not one per row.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.argil.client import ArgilClient
from pipeline.argil.models import Avatar, SubtitleStyle
from pipeline.mapping import FieldError, RowPlan


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


def uses_styles(bodies: Iterable[dict[str, Any]]) -> bool:
    return any((b.get("subtitles") or {}).get("styleId") for b in bodies)


MAX_LISTED = 12


def _unknown(what: str, value: str, known: dict[str, str]) -> str:
    """'unknown avatar "avatar-ema"; did you mean "avatar-emma"?' — ids and names both count,
    since a user who typed a name wants to be shown the id it belongs to."""
    by_label = {
        **{name.lower(): ident for ident, name in known.items() if name},
        **{ident.lower(): ident for ident in known},
    }
    close = difflib.get_close_matches(value.lower(), list(by_label), n=1, cutoff=0.6)
    hint = f'; did you mean "{by_label[close[0]]}"?' if close else ""
    return f'unknown {what} "{value}"{hint}'


def check_body(body: dict[str, Any], catalogue: Catalogue) -> list[FieldError]:
    errors: list[FieldError] = []
    avatar_names = {a.id: a.name or "" for a in catalogue.avatars.values()}
    for i, moment in enumerate(body.get("moments") or []):
        avatar_id = moment.get("avatarId")
        avatar = catalogue.avatars.get(avatar_id) if avatar_id else None
        if avatar_id and avatar is None:
            errors.append(
                FieldError(f"moments[{i}].avatarId", _unknown("avatar", avatar_id, avatar_names))
            )
        voice_id = moment.get("voiceId")
        if voice_id and voice_id not in catalogue.voices:
            errors.append(
                FieldError(f"moments[{i}].voiceId", _unknown("voice", voice_id, catalogue.voices))
            )
        gesture = moment.get("gestureSlug")
        if gesture and avatar is not None:
            gestures = {g.slug: g.label or "" for g in avatar.gestures}
            if gesture not in gestures:
                message = _unknown(f"gesture for avatar {avatar.id}", gesture, gestures)
                if gestures:
                    # The names a user can pick from are shown; a long list is cut.
                    names = sorted(gestures)
                    shown = ", ".join(names[:MAX_LISTED])
                    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
                    message += f" (its gestures: {shown}{more})"
                errors.append(FieldError(f"moments[{i}].gestureSlug", message))
    style_id = (body.get("subtitles") or {}).get("styleId")
    if style_id and style_id not in catalogue.styles:
        message = _unknown("subtitle style", style_id, catalogue.styles)
        errors.append(FieldError("subtitles.styleId", message))
    return errors


async def refusals(client: ArgilClient, plans: Iterable[RowPlan]) -> dict[int, list[FieldError]]:
    """Each valid row's pre-flight errors, by row number (rows with none are left out)."""
    valid = [plan for plan in plans if plan.body is not None]
    catalogue = await fetch_catalogue(
        client, need_styles=uses_styles(plan.body for plan in valid if plan.body is not None)
    )
    found = {}
    for plan in valid:
        assert plan.body is not None
        errors = check_body(plan.body, catalogue)
        if errors:
            found[plan.row] = errors
    return found
