"""Pre-flight: check every row's avatar, voice, gesture and subtitle style against the API's
catalogue before anything is created.

A typo in an avatar id would otherwise cost one refused request per row, or worse, a video made
with the wrong gesture. The catalogue costs a few requests in all, not one per row.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Awaitable, Iterable
from typing import Any

from pipeline.argil.catalogue import Catalogue, fetch_catalogue
from pipeline.argil.client import ArgilClient, ArgilError, FatalError
from pipeline.config import Config
from pipeline.engine.plan import Work
from pipeline.engine.results import PENDING
from pipeline.engine.state import RunState
from pipeline.errors import ApiRefusedError
from pipeline.mapping import FieldError, RowPlan
from pipeline.settings import api_endpoint, as_rpm, make_client
from pipeline.validation import ValidationReport, with_refusals


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


async def check_rows(
    state: RunState, to_send: Work, fetching: Awaitable[Catalogue], *, reading: bool = False
) -> Work:
    """The rows of ``to_send`` the catalogue accepts; the others are INVALID, with why, before
    anything is created. ``reading``: only to report them (``status``), so a catalogue that
    cannot be read leaves the rows as they were."""
    try:
        catalogue = await fetching
    except ArgilError as exc:
        if reading:
            return to_send
        reason = exc.message if isinstance(exc, FatalError) else f"pre-flight: {exc.message}"
        state.stop(reason)
        for plan, _ in to_send:
            state.say(plan, PENDING, f"not sent: {reason}")
        return []
    kept = []
    for plan, generation in to_send:
        assert plan.body is not None
        errors = check_body(plan.body, catalogue)
        if errors:
            state.refuse(plan, errors)
        else:
            kept.append((plan, generation))
    return kept


def preflight_report(
    report: ValidationReport,
    config: Config,
    *,
    sandbox: bool = False,
    base_url: str | None = None,
    api_key: str | None = None,
) -> ValidationReport:
    """``validate --preflight``: the run's pre-flight (avatars, voices, gestures, styles) on
    every valid row, and the report with the refused rows made invalid. Creates nothing."""
    api = config.api

    async def check(url: str, key: str) -> dict[int, list[FieldError]]:
        client = make_client(
            None, url, key, rpm=as_rpm(api.rpm), read_rpm=api.read_rpm, concurrency=api.concurrency
        )
        async with client:
            return await refusals(client, report.plans)

    try:
        with api_endpoint(sandbox=sandbox, base_url=base_url, api_key=api_key) as (url, key):
            refused = asyncio.run(check(url, key))
    except ArgilError as exc:
        raise ApiRefusedError(f"pre-flight: {exc.message}") from None
    return with_refusals(report, refused)
