"""What changed in a row since its video was made: per-field digests of the request body.

The journal keeps a short digest of every field of the body a video was made from (not the
body itself: a 100,000-row journal of full scripts would be mostly text nobody reads again),
so a row reported CHANGED can say which fields differ: ``name``, ``moments[0].transcript``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from pipeline.batch import BATCH_KEY_EXTRA

# The same on both sides for a given row key; never a change of its own.
_IGNORED = f"extras.{BATCH_KEY_EXTRA}"
MAX_NAMED = 4


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def field_digests(body: Mapping[str, Any]) -> str:
    """The digests of every field of ``body``, as the journal stores them (JSON text)."""
    digests = {path: _digest(value) for path, value in _leaves(body, "") if path != _IGNORED}
    return json.dumps(digests, sort_keys=True, separators=(",", ":"))


def changed_fields(stored: str | None, body: Mapping[str, Any]) -> list[str] | None:
    """The fields of ``body`` that differ from the stored digests (added and removed ones
    too), in the body's order; None when the journal holds no digests (an older state file)."""
    if not stored:
        return None
    try:
        before = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(before, dict):
        return None
    now = json.loads(field_digests(body))
    changed = [path for path, digest in now.items() if before.get(path) != digest]
    changed += [path for path in before if path not in now]
    order = {path: i for i, (path, _) in enumerate(_leaves(body, ""))}
    return sorted(changed, key=lambda path: (order.get(path, len(order)), path))


def describe(fields: list[str] | None) -> str:
    """``name, moments[0].transcript`` (at most a few named), or "" when unknown."""
    if not fields:
        return ""
    named = ", ".join(fields[:MAX_NAMED])
    more = len(fields) - MAX_NAMED
    return named if more <= 0 else f"{named} and {more} more"
