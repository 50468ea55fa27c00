"""What a row becomes, and its problems located by the body's wire paths.

:class:`RowPlan` is a row's outcome (``valid`` with its body and payload hash, ``invalid`` with
its :class:`FieldError`\\ s, or ``skipped``). A problem points at the body's path
(``moments[1].zoom.keyframes[0].scale``): :func:`_wire_path` turns a config location into one,
and :func:`_field_errors` turns the API models' errors on a body into problems on the config's
moments (a split moment's parts share their moment's index). :func:`canonical_json` is the one
serialisation payload hashes compare.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from pipeline.argil.models import BROLL_TYPES
from pipeline.config import format_path, pydantic_message

VALID = "valid"
INVALID = "invalid"
SKIPPED = "skipped"


@dataclass(slots=True)
class FieldError:
    """One problem of a row. ``field`` is a wire path (``moments[1].avatarId``) or ``""``
    for a problem of the whole row."""

    field: str
    message: str
    config: str = ""
    """Where in the config the problem lies (``file:line: yaml.path``) when it is the config's
    rather than the row's cells: a template that passed a limit of the sandbox. Every row it
    affects keeps it; a report says it once (see :mod:`pipeline.validation`)."""
    summary: str = ""
    """On the first row such a problem affects, once the sheet is validated: the line that
    says it for all of them."""

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(slots=True)
class RowPlan:
    """What a row becomes: a valid body to send, or why not."""

    row: int
    key: str
    status: str
    body: dict[str, Any] | None
    payload_hash: str | None
    errors: list[FieldError] = field(default_factory=list)
    moments: int = 0
    chars: int = 0
    reason: str = ""
    # render.when's verdict: True approved for rendering, False waiting for approval, None
    # when the config has no render.when.
    approved: bool | None = None
    # download.name rendered for the row ("" without one): its MP4's name under --download.
    file_name: str = ""


def _wire_path(loc: Sequence[str | int]) -> str:
    """Config location -> the body's path: ``("video", "subtitles", "style_id")`` ->
    ``subtitles.styleId``. Extras names are the user's own and stay as written."""
    parts: list[str | int] = list(loc[1:]) if loc and loc[0] == "video" else list(loc)
    if parts and parts[0] == "extras":
        return format_path(parts)
    return format_path([p if isinstance(p, int) else to_camel(p) for p in parts])


def canonical_json(body: Mapping[str, Any]) -> str:
    """The one serialisation that hashes compare: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _field_errors(exc: ValidationError, origins: list[tuple[int, int, int]]) -> list[FieldError]:
    """pydantic's errors on a body -> FieldErrors on config moments and wire paths."""
    out: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors():
        loc = list(error["loc"])
        suffix = ""
        if len(loc) >= 2 and loc[0] == "moments" and isinstance(loc[1], int):
            body_index = loc[1]
            if body_index < len(origins):
                index, part, count = origins[body_index]
                loc[1] = index
                if count > 1 and loc[-1] == "transcript":
                    suffix = f" (part {part + 1} of {count})"
        # The discriminated broll union puts the type name in the location: drop it.
        kind = ""
        for i in range(1, len(loc)):
            if loc[i - 1] == "broll" and loc[i] in BROLL_TYPES:
                kind = str(loc.pop(i))
                break
        message = pydantic_message(error)
        if error["type"] == "extra_forbidden" and kind:
            message = f"does not apply to broll type {kind}"
        path = format_path(loc)
        if (path, message + suffix) in seen:
            continue  # a setting copied to every part of a split moment fails once per part
        seen.add((path, message + suffix))
        out.append(FieldError(path, message + suffix))
    return out
