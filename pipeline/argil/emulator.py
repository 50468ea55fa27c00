"""A local Argil-compatible HTTP server: for ``--sandbox``, the emulator command, tests, benchmarks.

It answers the endpoints this project uses (``/videos``, ``/videos/{id}``, ``/videos/{id}/render``,
``/avatars``, ``/voices``, ``/subtitles``) under ``/v1`` and at the root, with JSON everywhere and
errors shaped ``{"code": <int>, "message": "..."}``. ``POST /videos`` bodies are checked against
the OpenAPI file shipped with the package (``openapi.yaml``) through jsonschema, not through the
pydantic models, so that each can catch the other's mistakes; the rules the spec states only in
prose (exactly one of transcript and audioUrl, the transcript limit in UTF-16 code units, at most
5 extras of at most 256 characters, the voiceModel names listed in its description) are checked
by hand.

Knobs (:class:`EmulatorSettings`) make it misbehave the way a real API does: a per-key rate limit
in sliding or fixed windows (reads apart from writes if asked), announced in headers or not,
answering 429 with a chosen ``Retry-After`` form (see ``ratelimit.py``); latency and jitter on
the way in (before the request is counted) and on the way out, spikes,
injected 5xx before anything is created, dropped connections after the video *is* created (the
"in doubt" case), failed or moderated renders, running out of credits. Render progress is computed
lazily from an injectable clock when a video is read, so tests never sleep. ``GET
/_emulator/stats`` (no auth) reports what happened, for benchmarks running it as a process.

Exceptions (all derive from :class:`EmulatorError`):

- :class:`EmulatorSettingsError` (also a ``ValueError``): a knob out of range, or a host that is
  not loopback: the emulator only ever listens on loopback.
- :class:`StateFileError`: the state file exists but cannot be read back.
- :class:`EmulatorStartError`: the server could not listen or did not come up.
- :class:`ApiFault`: an error answer (status, message, headers); raised by :class:`Emulator`
  methods and turned into the JSON error by the HTTP layer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import copy
import dataclasses
import hmac
import html
import importlib.resources
import ipaddress
import json
import logging
import math
import os
import random
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema
import referencing
import referencing.jsonschema
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from pipeline.argil.ratelimit import (
    RETRY_AFTER_FORMS,
    WINDOW_KINDS,
    Budget,
    Limiter,
    WindowKind,
    announce_headers,
    retry_after_headers,
)

__all__ = [
    "AVATARS",
    "SUBTITLE_STYLES",
    "VOICES",
    "ApiFault",
    "Emulator",
    "EmulatorError",
    "EmulatorServer",
    "EmulatorSettings",
    "EmulatorSettingsError",
    "EmulatorStartError",
    "EmulatorStats",
    "StateFileError",
    "check_body",
    "create_app",
    "serve",
]

DEFAULT_TRANSCRIPT_CHARS: Final = 500
MAX_EXTRAS: Final = 5
MAX_EXTRA_CHARS: Final = 256
MAX_PAGE_SIZE: Final = 100
BATCH_KEY_EXTRA: Final = "argilBatchKey"
# Spoken speed used to estimate a video's duration from its transcripts.
CHARS_PER_SECOND: Final = 15.0
AUDIO_MOMENT_SECONDS: Final = 10.0

STATUS_IDLE: Final = "IDLE"
STATUS_AUDIO: Final = "GENERATING_AUDIO"
STATUS_VIDEO: Final = "GENERATING_VIDEO"
STATUS_DONE: Final = "DONE"
STATUS_FAILED: Final = "FAILED"
STATUS_MODERATED: Final = "CONTENT_MODERATED"
FAIL_RENDER_MARK: Final = "[fail-render]"
MODERATE_MARK: Final = "[moderate]"

_SPEC_URI: Final = "urn:argil-batch:openapi"
_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_STATE_VERSION: Final = 1
_MISSING: Final = object()

# --- catalogue ---------------------------------------------------------------------------

AVATARS: Final[list[dict[str, Any]]] = [
    {
        "id": "avatar-emma",
        "name": "Emma",
        "gestures": [
            {"label": "Wave", "slug": "wave", "startFrame": 0},
            {"label": "Point right", "slug": "point-right", "startFrame": 48},
            {"label": "Thumbs up", "slug": "thumbs-up", "startFrame": 96},
        ],
    },
    {
        "id": "avatar-noah",
        "name": "Noah",
        "gestures": [
            {"label": "Wave", "slug": "wave", "startFrame": 0},
            {"label": "Point left", "slug": "point-left", "startFrame": 40},
            {"label": "Nod", "slug": "nod", "startFrame": 80},
        ],
    },
    {
        "id": "avatar-lina",
        "name": "Lina",
        "gestures": [
            {"label": "Wave", "slug": "wave", "startFrame": 0},
            {"label": "Open arms", "slug": "open-arms", "startFrame": 60},
            {"label": "Thumbs up", "slug": "thumbs-up", "startFrame": 120},
        ],
    },
    {
        "id": "avatar-marcus",
        "name": "Marcus",
        "gestures": [
            {"label": "Point right", "slug": "point-right", "startFrame": 0},
            {"label": "Count on fingers", "slug": "count", "startFrame": 72},
        ],
    },
]
VOICES: Final[list[dict[str, Any]]] = [
    {"id": "voice-emma", "name": "Emma (warm, en-US)"},
    {"id": "voice-noah", "name": "Noah (calm, en-GB)"},
    {"id": "voice-lina", "name": "Lina (bright, fr-FR)"},
    {"id": "voice-marcus", "name": "Marcus (deep, en-US)"},
    {"id": "voice-narrator", "name": "Narrator (neutral, en-US)"},
]
SUBTITLE_STYLES: Final[list[dict[str, Any]]] = [
    {"id": "style-classic", "name": "Classic"},
    {"id": "style-bold", "name": "Bold"},
    {"id": "style-karaoke", "name": "Karaoke"},
]
# The API fills a moment's voice with the avatar's own when none is given.
_AVATAR_VOICE: Final = {f"avatar-{n}": f"voice-{n}" for n in ("emma", "noah", "lina", "marcus")}


# --- errors ------------------------------------------------------------------------------


class EmulatorError(Exception):
    """Base of every error raised by this module."""


class EmulatorSettingsError(EmulatorError, ValueError):
    """A knob out of range, or a host that is not loopback."""


class StateFileError(EmulatorError):
    """The state file exists but cannot be read back."""


class EmulatorStartError(EmulatorError):
    """The server could not listen on its address or did not come up."""


class ApiFault(EmulatorError):
    """An error answer: HTTP status, the ``message`` of the JSON body, extra headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


# --- settings and stats ------------------------------------------------------------------


@dataclass
class EmulatorSettings:
    """How the emulator behaves; every knob off by default gives a well-behaved API."""

    api_key: str | None = None  # None: any non-empty x-api-key; else only this one
    rpm: float | None = None  # per-key limit (all endpoints, or writes with read_rpm); None: none
    read_rpm: float | None = None  # GETs counted apart in a window of their own; None: with rpm
    rate_window: float = 60.0  # seconds; a window allows rpm * rate_window / 60 requests
    rate_window_kind: str = "sliding"  # or "fixed" (counts reset at each window of clock time)
    retry_after: str = "seconds"  # 429 hint: "seconds", "date", "ms" (retry-after-ms), "none"
    ratelimit_headers: bool = False  # announce the policy and what is left (IETF and X-)
    latency_in_ms: float = 0.0  # spent before the request is counted (the way in)
    latency_in_jitter_ms: float = 0.0  # uniform +- on top of latency_in_ms
    latency_ms: float = 0.0  # added to every API answer (the way out)
    latency_jitter_ms: float = 0.0  # uniform +- on top of latency_ms
    spike_rate: float = 0.0  # probability an answer is held spike_ms more (past read timeouts)
    spike_ms: float = 0.0
    fail_rate: float = 0.0  # POST /videos answers 500/502/503 before creating anything
    drop_rate: float = 0.0  # POST /videos creates the video, then closes without an answer
    # POST /videos creates the video, then answers 200 with something that is not a Video.
    odd_rate: float = 0.0
    # POST /videos creates the video, then answers with the previous create's video (a stale
    # answer from a cache on the way): an id another row already holds.
    stale_rate: float = 0.0
    render_seconds: float = 3.0  # IDLE -> GENERATING_AUDIO -> GENERATING_VIDEO -> final
    render_fail_rate: float = 0.0  # probability a render ends FAILED
    credits: int | None = None  # creates allowed, then 402
    state_file: Path | None = None  # videos kept across restarts (rewritten on every change)
    seed: int | None = None  # for the random knobs
    clock: Callable[[], float] = time.monotonic  # render progress and the rate window
    transcript_chars: int = DEFAULT_TRANSCRIPT_CHARS  # per moment, UTF-16 code units
    list_fail_rate: float = 0.0  # GET /videos (the list) answers 503
    list_extras: bool = True  # False: GET /videos lists videos without their extras

    def __post_init__(self) -> None:
        if self.retry_after not in RETRY_AFTER_FORMS:
            raise EmulatorSettingsError(
                f"retry_after must be one of {', '.join(RETRY_AFTER_FORMS)}, "
                f"not {self.retry_after!r}"
            )
        for name in (
            "spike_rate",
            "fail_rate",
            "drop_rate",
            "odd_rate",
            "stale_rate",
            "render_fail_rate",
            "list_fail_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EmulatorSettingsError(f"{name} must be between 0 and 1, not {value}")
        if self.rate_window_kind not in WINDOW_KINDS:
            raise EmulatorSettingsError(
                f"rate_window_kind must be one of {', '.join(WINDOW_KINDS)}, "
                f"not {self.rate_window_kind!r}"
            )
        for name in (
            "latency_ms",
            "latency_jitter_ms",
            "latency_in_ms",
            "latency_in_jitter_ms",
            "spike_ms",
            "render_seconds",
        ):
            if getattr(self, name) < 0:
                raise EmulatorSettingsError(f"{name} must not be negative")
        for name in ("rpm", "read_rpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise EmulatorSettingsError(f"{name} must be positive, not {value}")
        if self.rate_window <= 0:
            raise EmulatorSettingsError(f"rate_window must be positive, not {self.rate_window}")
        if self.credits is not None and self.credits < 0:
            raise EmulatorSettingsError(f"credits must not be negative, not {self.credits}")
        if self.api_key == "":
            raise EmulatorSettingsError("api_key must not be empty (None accepts any key)")
        if self.state_file is not None:
            self.state_file = Path(self.state_file)

    def budgets(self) -> tuple[Budget | None, Budget | None]:
        """(writes, reads): the budget each kind of request is counted in; the same one for
        both without ``read_rpm``, None without ``rpm``."""
        kind: WindowKind = "fixed" if self.rate_window_kind == "fixed" else "sliding"
        window = self.rate_window
        if self.read_rpm is None:
            both = None if self.rpm is None else Budget.per_minute("api", self.rpm, window, kind)
            return both, both
        reads = Budget.per_minute("reads", self.read_rpm, window, kind)
        writes = None if self.rpm is None else Budget.per_minute("writes", self.rpm, window, kind)
        return writes, reads


@dataclass
class EmulatorStats:
    """Counters since the emulator started (not persisted in the state file)."""

    requests: int = 0  # every request to an API endpoint, whatever its answer
    reads: int = 0  # of which GET requests (lists, polls, catalogue)
    creates: int = 0  # POST /videos requests that got past auth and the rate limit
    created: int = 0  # videos actually created (dropped answers included)
    rate_limited: int = 0  # 429 answers
    failed_injected: int = 0  # injected 5xx answers on POST /videos
    dropped: int = 0  # creates whose connection was closed without an answer
    create_times: list[float] = field(default_factory=list)  # clock time of each creation
    renders: int = 0  # renders started
    odd_answers: int = 0  # creates answered with something that is not a Video
    stale_answers: int = 0  # creates answered with the previous create's video
    # GET /videos/{id} by id: what a listing did not answer for.
    video_reads: collections.Counter[str] = field(default_factory=collections.Counter)


# --- the spec check ----------------------------------------------------------------------


def check_body(body: object, transcript_chars: int = DEFAULT_TRANSCRIPT_CHARS) -> list[str]:
    """Check a ``POST /videos`` body against the spec; ``[]`` when valid.

    Each message starts with the JSON path it is about, e.g.
    ``moments[0].broll.type: 'FOO' is not one of AVATAR_ACTION, GENERATION, ...``.
    """
    prose = _prose_errors(body, transcript_chars)
    prose_paths = {path for path, _ in prose}
    messages: list[str] = []
    instance: Any = body
    for error in _body_validator().iter_errors(instance):
        path = tuple(error.absolute_path)
        if error.validator == "maxProperties" and path in prose_paths:
            continue  # the stricter prose rule already says it
        messages.extend(_describe(error))
    messages.extend(message for _, message in prose)
    return _unique(messages)


@cache
def _spec() -> Any:
    spec_text = (
        importlib.resources.files("pipeline.argil")
        .joinpath("openapi.yaml")
        .read_text(encoding="utf-8")
    )
    return yaml.safe_load(spec_text)


@cache
def _voice_models() -> frozenset[str]:
    """The names the spec's description of ``voiceModel`` lists ("ElevenLabs voices: a, b,
    ... Minimax voices: c, d"), read from the spec itself like every other check here."""
    moment = _spec()["components"]["schemas"]["VideoCreateArgs"]["properties"]["moments"]
    text = str(moment["items"]["properties"]["voiceModel"].get("description", ""))
    names: set[str] = set()
    for listed in re.findall(r"voices:\s*([^:]+?)(?=\s+\w+ voices:|$)", text, re.S):
        names.update(name.strip() for name in listed.split(",") if name.strip())
    return frozenset(names)


@cache
def _body_validator() -> jsonschema.protocols.Validator:
    spec = _openapi_to_json_schema(_spec())
    resource = referencing.Resource.from_contents(
        spec, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(_SPEC_URI, resource)
    checker = jsonschema.FormatChecker(formats=())
    # jsonschema's own uuid check goes through uuid.UUID(), which also takes braces, "urn:uuid:",
    # underscores and extra dashes; the wire format is the plain 8-4-4-4-12 hex form.
    checker.checks("uuid")(_is_uuid)
    return jsonschema.Draft202012Validator(
        {"$ref": f"{_SPEC_URI}#/components/schemas/VideoCreateArgs"},
        registry=registry,
        format_checker=checker,
    )


def _is_uuid(instance: object) -> bool:
    return not isinstance(instance, str) or _UUID_RE.fullmatch(instance) is not None


def _openapi_to_json_schema(node: Any) -> Any:
    """Translate the OpenAPI 3.0 dialect into JSON Schema 2020-12 (a copy).

    ``nullable`` becomes a ``"null"`` type; a ``oneOf`` with a ``discriminator`` whose inline
    members each require the tag and pin it with an ``enum`` becomes one ``if``/``then`` per
    member: the same set of valid bodies, but errors name the bad tag or the chosen member's
    own problem instead of jsonschema's dump of every member's failures.
    """
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    discriminator = out.pop("discriminator", None)
    if isinstance(discriminator, dict) and isinstance(out.get("oneOf"), list):
        tagged = _tagged_union(out, str(discriminator.get("propertyName")))
        if tagged is not None:
            return tagged
    return out


def _tagged_union(node: dict[str, Any], tag: str) -> dict[str, Any] | None:
    tags: list[Any] = []
    branches: list[dict[str, Any]] = []
    for member in node["oneOf"]:
        if not isinstance(member, dict) or tag not in member.get("required", ()):
            return None
        values = member.get("properties", {}).get(tag, {}).get("enum")
        if not values or any(value in tags for value in values):
            return None
        tags.extend(values)
        branches.append(
            {
                "if": {"type": "object", "required": [tag], "properties": {tag: {"enum": values}}},
                "then": member,
            }
        )
    rest = {key: value for key, value in node.items() if key != "oneOf"}
    return {
        **rest,
        "type": "object",
        "required": [tag],
        "properties": {tag: {"enum": tags}},
        "allOf": branches,
    }


def _prose_errors(body: object, transcript_chars: int) -> list[tuple[tuple[Any, ...], str]]:
    """The rules the spec states only in words, as (path, message) pairs."""
    if not isinstance(body, dict):
        return []
    found: list[tuple[tuple[Any, ...], str]] = []
    moments = body.get("moments")
    if isinstance(moments, list):
        for index, moment in enumerate(moments):
            if not isinstance(moment, dict):
                continue
            path: tuple[Any, ...] = ("moments", index)
            has_transcript, has_audio = "transcript" in moment, "audioUrl" in moment
            if has_transcript == has_audio:
                got = "both" if has_transcript else "neither"
                found.append(
                    (
                        path,
                        f"{_path(path)}: exactly one of transcript and audioUrl is required "
                        f"(got {got})",
                    )
                )
            model = moment.get("voiceModel")
            if isinstance(model, str) and model not in _voice_models():
                found.append(
                    (
                        (*path, "voiceModel"),
                        f"{_path((*path, 'voiceModel'))}: {model!r} is not a voice model "
                        "(the spec lists the ElevenLabs and Minimax ones)",
                    )
                )
            transcript = moment.get("transcript")
            if isinstance(transcript, str):
                length = utf16_units(transcript)
                if length > transcript_chars:
                    found.append(
                        (
                            (*path, "transcript"),
                            f"{_path((*path, 'transcript'))}: {length} characters (UTF-16 code "
                            f"units), over the limit of {transcript_chars}",
                        )
                    )
    extras = body.get("extras")
    if isinstance(extras, dict):
        if len(extras) > MAX_EXTRAS:
            found.append(
                (("extras",), f"extras: {len(extras)} pairs, at most {MAX_EXTRAS} are allowed")
            )
        for key, value in extras.items():
            # Counted like transcripts, in UTF-16 code units: the server most likely runs on a
            # JavaScript engine, where that is what a string's length is.
            if utf16_units(key) > MAX_EXTRA_CHARS:
                found.append(
                    (
                        ("extras", key),
                        f"extras: a key is {utf16_units(key)} characters, at most "
                        f"{MAX_EXTRA_CHARS} are allowed ({key[:40]!r}...)",
                    )
                )
            if isinstance(value, str) and utf16_units(value) > MAX_EXTRA_CHARS:
                found.append(
                    (
                        ("extras", key),
                        f"{_path(('extras', key))}: value is {utf16_units(value)} characters, "
                        f"at most {MAX_EXTRA_CHARS} are allowed",
                    )
                )
    return found


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units; a lone surrogate (legal in JSON text) counts 1."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_JSON_TYPES: Final = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _describe(error: jsonschema.ValidationError) -> list[str]:
    path = tuple(error.absolute_path)
    where = _path(path)
    kind, instance = error.validator, error.instance
    expected: Any = error.validator_value
    if kind == "required" and isinstance(instance, dict):
        return [f"{_path((*path, name))}: is required" for name in expected if name not in instance]
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = (
            sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
        )
        return [
            f"{_path((*path, name))}: unknown property (allowed: {', '.join(allowed)})"
            for name in instance
            if name not in allowed
        ]
    if kind == "enum":
        return [f"{where}: {instance!r} is not one of {', '.join(map(str, expected))}"]
    if kind == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        return [f"{where}: expected {wanted}, got {_json_type(instance)}"]
    if kind == "minimum":
        return [f"{where}: {instance!r} is below the minimum {expected}"]
    if kind == "maximum":
        return [f"{where}: {instance!r} is above the maximum {expected}"]
    if kind in ("minItems", "maxItems") and isinstance(instance, list):
        bound = "at least" if kind == "minItems" else "at most"
        return [f"{where}: {len(instance)} items, {bound} {expected} are allowed"]
    if kind == "maxProperties" and isinstance(instance, dict):
        return [f"{where}: {len(instance)} properties, at most {expected} are allowed"]
    if kind == "format":
        return [f"{where}: {instance!r} is not a valid {expected}"]
    return [f"{where}: {error.message}"]


_IDENTIFIER_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _path(parts: Iterable[Any]) -> str:
    """A JSON path a person can read: ``moments[0].broll.type``, ``extras["a key"]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER_RE.fullmatch(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out or "body"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --- the emulator (state and behaviour, no HTTP) ---------------------------------------


@dataclass
class _Render:
    started: float  # settings.clock() when the render began
    outcome: str  # the final status it will reach
    origin: str  # scheme://host:port the video was created through, for its URLs
    callback_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "startedAt": self.started,
            "outcome": self.outcome,
            "origin": self.origin,
            "callbackUrl": self.callback_url,
        }


class Emulator:
    """The emulated API's state and rules; the HTTP layer only translates.

    Thread-safe: the server runs in its own thread while tests read ``videos`` and ``stats``.
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.stats = EmulatorStats()
        self._lock = threading.RLock()
        self._rng = random.Random(self.settings.seed)
        self._videos: dict[str, dict[str, Any]] = {}
        self._renders: dict[str, _Render] = {}
        writes, reads = self.settings.budgets()
        self._write_limiter = Limiter(writes) if writes is not None else None
        self._read_limiter = (
            self._write_limiter if reads is writes else Limiter(reads) if reads else None
        )
        self._credits_left = self.settings.credits
        self._last_created: dict[str, Any] | None = None
        if self.settings.state_file is not None:
            self._load(self.settings.state_file)

    def set_credits(self, credits: int | None) -> None:
        """Credits bought (or taken away) while the server runs; None means unlimited."""
        with self._lock:
            self.settings.credits = credits
            self._credits_left = credits

    # -- reading ---------------------------------------------------------------------------

    @property
    def videos(self) -> dict[str, dict[str, Any]]:
        """id -> the Video JSON as the API answers it, render progress brought up to date.

        The live store, not a copy: a test may edit it (to fake what the API did behind a
        client's back) while no request is in flight; edits are not written to the state file.
        """
        with self._lock:
            self._advance_all()
            return self._videos

    def count_by_batch_key(self) -> collections.Counter[str]:
        """``extras.argilBatchKey`` -> number of videos carrying it (a duplicate shows as 2+)."""
        with self._lock:
            return collections.Counter(
                str(video["extras"][BATCH_KEY_EXTRA])
                for video in self._videos.values()
                if isinstance(video.get("extras"), dict) and BATCH_KEY_EXTRA in video["extras"]
            )

    def stats_json(self) -> dict[str, Any]:
        with self._lock:
            counts = self.count_by_batch_key()
            return {
                **dataclasses.asdict(self.stats),
                "videos": len(self._videos),
                "credits_left": self._credits_left,
                "count_by_batch_key": dict(counts),
                "duplicate_batch_keys": sorted(key for key, n in counts.items() if n > 1),
            }

    # -- the gate every API request goes through ------------------------------------------

    def note_request(self, read: bool = False) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.reads += read

    def authenticate(self, api_key: str | None) -> str:
        """The key to count the request against; 401 when missing or not the expected one."""
        if not api_key:
            raise ApiFault(401, "Missing API key: send it in the x-api-key header")
        expected = self.settings.api_key
        if expected is not None and not hmac.compare_digest(api_key.encode(), expected.encode()):
            raise ApiFault(401, "Invalid API key")
        return api_key

    def admit(self, api_key: str, method: str = "POST") -> dict[str, str]:
        """Count a request in the key's window for its kind (GETs are reads); 429 when that
        window is full. Returns the headers announcing the limit, if announced."""
        limiter = self._read_limiter if method == "GET" else self._write_limiter
        if limiter is None:
            return {}
        now = self.settings.clock()
        with self._lock:
            verdict = limiter.take(api_key, now)
            if not verdict.allowed:
                self.stats.rate_limited += 1
        budget = limiter.budget
        announced = announce_headers(budget, verdict) if self.settings.ratelimit_headers else {}
        if not verdict.allowed:
            raise ApiFault(
                429,
                f"Too many requests: at most {budget.limit} per {budget.window:g} seconds "
                "per API key",
                {**announced, **retry_after_headers(self.settings.retry_after, verdict.reset)},
            )
        return announced

    def inbound_delay_seconds(self) -> float:
        """How long a request travels before the server counts it: latency and jitter."""
        s = self.settings
        if not (s.latency_in_ms or s.latency_in_jitter_ms):
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(-s.latency_in_jitter_ms, s.latency_in_jitter_ms)
        return max(0.0, s.latency_in_ms + jitter) / 1000.0

    def chance(self, probability: float) -> bool:
        with self._lock:
            return self._rng.random() < probability

    def delay_seconds(self) -> float:
        """How long to hold this answer: latency, jitter and maybe a spike."""
        s = self.settings
        with self._lock:
            jitter = self._rng.uniform(-s.latency_jitter_ms, s.latency_jitter_ms)
            spike = s.spike_ms if s.spike_rate and self._rng.random() < s.spike_rate else 0.0
        return max(0.0, s.latency_ms + jitter) / 1000.0 + spike / 1000.0

    # -- videos ----------------------------------------------------------------------------

    def create(self, body: object, origin: str) -> tuple[dict[str, Any], bool]:
        """Create a video from a parsed body: (the Video JSON, whether to drop the answer).

        Checks in the order the API is assumed to: injected failure (nothing created), body
        (400), credits (402); then creates, and maybe decides to drop the answer.
        """
        return self._create(lambda: body, origin)

    def create_json(self, raw: bytes, origin: str) -> tuple[dict[str, Any], bool]:
        """:meth:`create` from the raw request body; JSON that does not parse is a 400."""
        return self._create(lambda: parse_json(raw), origin)

    def _create(self, parse: Callable[[], object], origin: str) -> tuple[dict[str, Any], bool]:
        s = self.settings
        with self._lock:
            self.stats.creates += 1
            if s.fail_rate and self._rng.random() < s.fail_rate:
                self.stats.failed_injected += 1
                status = self._rng.choice((500, 502, 503))
                raise ApiFault(status, f"Injected server error {status}: nothing was created")
        body = parse()
        problems = check_body(body, s.transcript_chars)
        if problems:
            raise ApiFault(400, "Invalid body: " + "; ".join(problems))
        assert isinstance(body, dict)  # check_body accepted it, so it is an object
        with self._lock:
            if self._credits_left is not None:
                if self._credits_left <= 0:
                    raise ApiFault(
                        402,
                        "Not enough credits to create a video: "
                        f"the plan's {s.credits} credits are used up",
                    )
                self._credits_left -= 1
            video = self._new_video(body, origin)
            self._videos[video["id"]] = video
            self.stats.created += 1
            self.stats.create_times.append(s.clock())
            drop = bool(s.drop_rate) and self._rng.random() < s.drop_rate
            if drop:
                self.stats.dropped += 1
            answer, previous = video, self._last_created
            self._last_created = video
            if not drop and s.odd_rate and self._rng.random() < s.odd_rate:
                self.stats.odd_answers += 1
                answer = {"status": "accepted", "message": "Video creation queued"}
            elif not drop and previous and s.stale_rate and self._rng.random() < s.stale_rate:
                self.stats.stale_answers += 1
                answer = previous
            self._save()
            return copy.deepcopy(answer), drop

    def _new_video(self, body: dict[str, Any], origin: str) -> dict[str, Any]:
        video_id = str(uuid.uuid4())
        now = _iso_now()
        moments = copy.deepcopy(body["moments"])
        for moment in moments:
            voice = _AVATAR_VOICE.get(moment.get("avatarId", ""))
            if "voiceId" not in moment and voice is not None:
                moment["voiceId"] = voice
        video: dict[str, Any] = {
            "id": video_id,
            "name": body["name"],
            "status": STATUS_IDLE,
            "createdAt": now,
            "updatedAt": now,
            "duration": None,
            "moments": moments,
            "aspectRatio": body.get("aspectRatio", "16:9"),
            "previewUrl": f"{origin}/preview/{video_id}",
        }
        if "subtitles" in body:
            video["subtitles"] = {"enable": bool(body["subtitles"].get("enable"))}
        if "extras" in body:
            video["extras"] = dict(body["extras"])
        return video

    def get(self, video_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance(video_id)
            return copy.deepcopy(self._require(video_id))

    def delete(self, video_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance(video_id)
            video = self._require(video_id)
            del self._videos[video_id]
            self._renders.pop(video_id, None)
            self._save()
            return video

    def list(
        self, page: int = 1, limit: int = 10, extras_filter: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A page of videos, newest first, keeping those whose extras contain every pair."""
        if page < 1:
            raise ApiFault(400, f"page must be 1 or more, not {page}")
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ApiFault(400, f"limit must be between 1 and {MAX_PAGE_SIZE}, not {limit}")
        wanted = dict(extras_filter or {})
        with self._lock:
            self._advance_all()
            matching = [
                video
                for video in reversed(self._videos.values())
                if all((video.get("extras") or {}).get(k, _MISSING) == v for k, v in wanted.items())
            ]
            chosen = copy.deepcopy(matching[(page - 1) * limit : page * limit])
        return {
            "videos": chosen,
            "totalItems": len(matching),
            "totalPages": math.ceil(len(matching) / limit),
            "currentPage": page,
            "itemsPerPage": limit,
        }

    def render(self, video_id: str, origin: str, callback_url: str | None = None) -> dict[str, Any]:
        """Start generating an IDLE video; its status then moves on with the clock.

        The callback URL is kept but never called: the emulator runs no background work.
        """
        with self._lock:
            self._advance(video_id)
            video = self._require(video_id)
            if video["status"] != STATUS_IDLE:
                raise ApiFault(
                    400,
                    f"Video {video_id} is {video['status']}: only an IDLE video can be rendered",
                )
            self._renders[video_id] = _Render(
                started=self.settings.clock(),
                outcome=self._pick_outcome(str(video.get("name", ""))),
                origin=origin,
                callback_url=callback_url,
            )
            self.stats.renders += 1
            self._set_status(video, STATUS_AUDIO)
            self._advance(video_id, save=False)
            self._save()
            return copy.deepcopy(video)

    def _pick_outcome(self, name: str) -> str:
        if FAIL_RENDER_MARK in name:
            return STATUS_FAILED
        if MODERATE_MARK in name:
            return STATUS_MODERATED
        rate = self.settings.render_fail_rate
        if rate and self._rng.random() < rate:
            return STATUS_FAILED
        return STATUS_DONE

    def _require(self, video_id: str) -> dict[str, Any]:
        video = self._videos.get(video_id)
        if video is None:
            raise ApiFault(404, f"Video {video_id} not found")
        return video

    # -- render progress, computed when read -------------------------------------------------

    def _advance_all(self) -> None:
        changed = False
        for video_id in list(self._renders):
            changed |= self._advance(video_id, save=False)
        if changed:
            self._save()

    def _advance(self, video_id: str, save: bool = True) -> bool:
        job = self._renders.get(video_id)
        video = self._videos.get(video_id)
        if job is None or video is None:
            return False
        total = self.settings.render_seconds
        elapsed = self.settings.clock() - job.started
        audio_done = elapsed >= total / 3
        if job.outcome == STATUS_MODERATED and audio_done:
            # Moderation looks at the script: it happens once the audio is made.
            status = STATUS_MODERATED
        elif elapsed >= total:
            status = job.outcome
        elif audio_done:
            status = STATUS_VIDEO
        else:
            status = STATUS_AUDIO
        if status == video["status"]:
            return False
        if audio_done and video.get("duration") is None and status != STATUS_MODERATED:
            video["duration"] = _estimate_duration(video.get("moments") or [])
        if status == STATUS_DONE:
            video["videoUrl"] = f"{job.origin}/media/{video_id}.mp4"
            if (video.get("subtitles") or {}).get("enable"):
                video["videoUrlSubtitled"] = f"{job.origin}/media/{video_id}-subtitled.mp4"
        self._set_status(video, status)
        if status in (STATUS_DONE, STATUS_FAILED, STATUS_MODERATED):
            del self._renders[video_id]
        if save:
            self._save()
        return True

    @staticmethod
    def _set_status(video: dict[str, Any], status: str) -> None:
        video["status"] = status
        video["updatedAt"] = _iso_now()

    # -- persistence -------------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            videos = state["videos"]
            renders = state.get("renders", {})
            if not isinstance(videos, dict) or not isinstance(renders, dict):
                raise TypeError("videos and renders must be objects")
            now = self.settings.clock()
            for video_id, job in renders.items():
                # A clock that restarted lower (another machine, a reboot) would freeze the
                # render: start it again from now instead.
                started = min(float(job["startedAt"]), now)
                self._renders[video_id] = _Render(
                    started, str(job["outcome"]), str(job["origin"]), job.get("callbackUrl")
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateFileError(f"cannot read the emulator state file {path}: {exc}") from exc
        self._videos = videos

    def _save(self) -> None:
        path = self.settings.state_file
        if path is None:
            return
        state = {
            "version": _STATE_VERSION,
            "videos": self._videos,
            "renders": {video_id: job.to_json() for video_id, job in self._renders.items()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, ensure_ascii=False, separators=(",", ":"))
            # No fsync: the file must survive the emulator being stopped or killed, not the
            # machine losing power, and it is rewritten on every change.
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def parse_json(raw: bytes | str) -> object:
    """A request body as JSON; 400 when it is not (NaN and Infinity are not JSON either)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiFault(400, f"The body is not valid JSON: {exc}") from exc


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _estimate_duration(moments: list[Any]) -> float:
    seconds = 0.0
    for moment in moments:
        if not isinstance(moment, dict):
            continue
        transcript = moment.get("transcript")
        if isinstance(transcript, str):
            seconds += max(1.0, utf16_units(transcript) / CHARS_PER_SECOND)
        else:
            seconds += AUDIO_MOMENT_SECONDS
    return round(seconds, 2)


# --- HTTP --------------------------------------------------------------------------------

# Set while an answer is being dropped on purpose, so the server's error log (which reports an
# unfinished response) stays quiet about it.
_DROPPING: contextvars.ContextVar[bool] = contextvars.ContextVar("emulator_dropping", default=False)


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _DROPPING.get()


_QUIET_DROPS: Final = _QuietDrops()


def _quiet_drops() -> None:
    logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)  # idempotent for one filter


class _DroppedAnswer(Response):
    """Starts a response and stops: the server closes the connection mid-answer.

    An ASGI app cannot close its socket; announcing a body and never sending it makes uvicorn
    close the connection, and the client sees a protocol error, not an answer.
    """

    def __init__(self) -> None:
        super().__init__(status_code=201)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _DROPPING.set(True)
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")],
            }
        )


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status, headers=headers)


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


_Handler = Callable[[Request, Emulator], Awaitable[Response]]


def _api(handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an endpoint with what every API answer goes through: auth, rate limit, latency."""

    async def endpoint(request: Request) -> Response:
        emulator: Emulator = request.app.state.emulator
        inbound = emulator.inbound_delay_seconds()
        if inbound > 0:
            await asyncio.sleep(inbound)
        emulator.note_request(read=request.method == "GET")
        announced: dict[str, str] = {}
        try:
            key = emulator.authenticate(request.headers.get("x-api-key"))
            announced = emulator.admit(key, request.method)
            response = await handler(request, emulator)
        except ApiFault as fault:
            response = _error(fault.status, fault.message, fault.headers)
        if announced and not isinstance(response, _DroppedAnswer):
            response.headers.update(announced)
        delay = emulator.delay_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        return response

    return endpoint


async def _json_body(request: Request, *, optional: bool = False) -> object:
    raw = await request.body()
    if optional and not raw.strip():
        return None
    return parse_json(raw)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiFault(400, f"{name} must be an integer, not {raw!r}") from exc


async def _create_video(request: Request, emulator: Emulator) -> Response:
    video, drop = emulator.create_json(await request.body(), _origin(request))
    if drop:
        return _DroppedAnswer()
    return JSONResponse(video, status_code=201)


async def _get_video(request: Request, emulator: Emulator) -> Response:
    video_id = request.path_params["video_id"]
    emulator.stats.video_reads[video_id] += 1
    return JSONResponse(emulator.get(video_id))


async def _delete_video(request: Request, emulator: Emulator) -> Response:
    return JSONResponse(emulator.delete(request.path_params["video_id"]))


async def _list_videos(request: Request, emulator: Emulator) -> Response:
    # One JSON object of several pairs, or the parameter repeated: every pair must match.
    extras_filter: dict[str, Any] | None = None
    for raw_filter in request.query_params.getlist("extrasFilter"):
        if not raw_filter:
            continue
        try:
            parsed = json.loads(raw_filter)
        except ValueError as exc:
            raise ApiFault(400, f"extrasFilter is not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ApiFault(400, "extrasFilter must be a JSON object of extras to match")
        extras_filter = {**(extras_filter or {}), **parsed}
    settings = emulator.settings
    if settings.list_fail_rate and emulator.chance(settings.list_fail_rate):
        raise ApiFault(503, "Injected server error 503: the list is unavailable")
    page = emulator.list(
        page=_int_param(request, "page", 1),
        limit=_int_param(request, "limit", 10),
        extras_filter=extras_filter,
    )
    if not settings.list_extras:
        for video in page["videos"]:
            video.pop("extras", None)
    return JSONResponse(page)


async def _render_video(request: Request, emulator: Emulator) -> Response:
    video_id = request.path_params["video_id"]
    body = await _json_body(request, optional=True)
    callback_url: str | None = None
    if body is not None:
        if not isinstance(body, dict):
            raise ApiFault(400, "The render body must be a JSON object")
        raw = body.get("callbackUrl")
        if raw is not None:
            if not isinstance(raw, str) or not re.match(r"https?://[^\s/]+", raw):
                raise ApiFault(400, "callbackUrl must be an http(s) URL")
            callback_url = raw
    return JSONResponse(emulator.render(video_id, _origin(request), callback_url))


async def _avatars(request: Request, emulator: Emulator) -> Response:
    return JSONResponse(copy.deepcopy(AVATARS))


async def _voices(request: Request, emulator: Emulator) -> Response:
    return JSONResponse(copy.deepcopy(VOICES))


async def _subtitles(request: Request, emulator: Emulator) -> Response:
    page = _int_param(request, "page", 1)
    size = _int_param(request, "pageSize", 10)
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        raise ApiFault(400, f"page must be 1 or more and pageSize between 1 and {MAX_PAGE_SIZE}")
    items = copy.deepcopy(SUBTITLE_STYLES[(page - 1) * size : page * size])
    return JSONResponse(
        {
            "items": items,
            "totalItems": len(SUBTITLE_STYLES),
            "totalPages": math.ceil(len(SUBTITLE_STYLES) / size),
            "currentPage": page,
            "itemsPerPage": size,
        }
    )


async def _stats(request: Request) -> Response:
    return JSONResponse(request.app.state.emulator.stats_json())


async def _preview(request: Request) -> Response:
    emulator: Emulator = request.app.state.emulator
    try:
        video = emulator.get(request.path_params["video_id"])
    except ApiFault as fault:
        return _error(fault.status, fault.message)
    name, status = html.escape(str(video.get("name"))), html.escape(str(video.get("status")))
    return HTMLResponse(
        f"<!doctype html><title>{name}</title><h1>{name}</h1>"
        f"<p>Emulated video, status <b>{status}</b>.</p>"
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail), exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return _error(500, f"Internal emulator error: {type(exc).__name__}")


def create_app(settings: EmulatorSettings | None = None) -> Starlette:
    """The ASGI app; ``app.state.emulator`` is its :class:`Emulator`."""
    _quiet_drops()
    _body_validator()  # built now, so the first create is not the slow one
    api: list[BaseRoute] = [
        Route("/videos", _api(_create_video), methods=["POST"]),
        Route("/videos", _api(_list_videos), methods=["GET"]),
        Route("/videos/{video_id}", _api(_get_video), methods=["GET"]),
        Route("/videos/{video_id}", _api(_delete_video), methods=["DELETE"]),
        Route("/videos/{video_id}/render", _api(_render_video), methods=["POST"]),
        Route("/avatars", _api(_avatars), methods=["GET"]),
        Route("/voices", _api(_voices), methods=["GET"]),
        Route("/subtitles", _api(_subtitles), methods=["GET"]),
    ]
    routes: list[BaseRoute] = [
        Route("/_emulator/stats", _stats, methods=["GET"]),
        Route("/preview/{video_id}", _preview, methods=["GET"]),
        Mount("/v1", routes=api),
        *api,
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.emulator = Emulator(settings)
    return app


# --- running it ----------------------------------------------------------------------------


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise EmulatorSettingsError(
            f"the emulator only listens on loopback (127.0.0.1, ::1, localhost), not {host!r}"
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class _Server(uvicorn.Server):
    """uvicorn's server, woken by :meth:`wake` instead of noticing ``should_exit`` at its next
    0.1 s tick: tests start and stop a server each, and the ticks add up."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wakeup: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wakeup = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 0.1)

    def wake(self) -> None:
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(wakeup.set)


class EmulatorServer:
    """The emulator served by uvicorn in a background thread, on loopback.

    ``port=0`` picks a free port; the socket is bound here (with SO_REUSEADDR) so ``base_url``
    is known before serving and a new server can take the same port right after ``stop()``.
    """

    def __init__(
        self, settings: EmulatorSettings | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        _require_loopback(host)
        self.host = host
        self.port = port
        self.app = create_app(settings)
        self.emulator: Emulator = self.app.state.emulator
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:53211/v1`` (the port is known once started)."""
        return f"http://{_url_host(self.host)}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}"

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        if self._thread is not None:
            return self
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = _config(self.app, self.host, self.port, log_config=None)
        server = _Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="argil-emulator", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise EmulatorStartError(f"the emulator did not start on {self.root_url}")
            time.sleep(0.005)  # waiting on the server thread, not backing off
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving; answers still being held (latency, spikes) are cut after ``timeout``."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.should_exit = True
        server.wake()
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket, bound here rather than by uvicorn, which would exit the process
    when the port is taken; SO_REUSEADDR lets a restarted emulator take its port back at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every answer on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise EmulatorStartError(f"the emulator cannot listen on {host}:{port}: {exc}") from exc
    return sock


def _config(app: Starlette, host: str, port: int, log_config: Any) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        log_config=log_config,
        # Held answers (spikes) must not keep a stopping server alive for long.
        timeout_graceful_shutdown=2,
    )
    _quiet_drops()  # after the config, which may have (re)configured uvicorn's loggers
    return config


def serve(
    settings: EmulatorSettings,
    host: str = "127.0.0.1",
    port: int = 8787,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve the emulator in the foreground until interrupted (Ctrl-C).

    ``on_listening`` gets the base URL once the socket is bound (port 0 picks a free one).
    uvicorn re-raises the interrupting signal once it has shut down, so a Ctrl-C ends as a
    ``KeyboardInterrupt`` in the caller.
    """
    _require_loopback(host)
    sock = _bind(host, port)
    if on_listening is not None:
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        on_listening(f"http://{shown}:{bound}/v1")
    config = _config(create_app(settings), host, port, log_config=uvicorn.config.LOGGING_CONFIG)
    uvicorn.Server(config).run(sockets=[sock])
