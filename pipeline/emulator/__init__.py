"""A local Argil-compatible HTTP server: for ``--sandbox``, the emulator command, tests, benchmarks.

It answers the endpoints this project uses (``/videos``, ``/videos/{id}``, ``/videos/{id}/render``,
``/avatars``, ``/voices``, ``/subtitles``) under ``/v1`` and at the root, with JSON everywhere and
errors shaped ``{"code": <int>, "message": "..."}``. ``POST /videos`` bodies are checked against
the OpenAPI file shipped with the package (``openapi.yaml``) through jsonschema, not through the
pydantic models, so that each can catch the other's mistakes; the rules the spec states only in
prose are checked by hand.

Knobs (:class:`EmulatorSettings`) make it misbehave the way a real API does: a per-key rate limit
in sliding or fixed windows (reads apart from writes if asked), announced in headers or not,
answering 429 with a chosen ``Retry-After`` form; latency and jitter on the way in (before the
request is counted) and on the way out, spikes, injected 5xx before anything is created, dropped
connections after the video *is* created (the "in doubt" case), failed or moderated renders,
running out of credits. Render progress is computed lazily from an injectable clock when a video
is read, so tests never sleep.

This module is the emulator's one import point; each concern lives in a module of its own:

- ``spec.py``: :func:`check_body`, the spec check of ``POST /videos`` bodies (the JSON Schema
  built from ``openapi.yaml``, the rules stated only in prose, UTF-16 counting).
- ``settings.py``: :class:`EmulatorSettings` (the knobs), :class:`EmulatorStats` (the counters)
  and the errors, all deriving from :class:`EmulatorError`.
- ``state.py``: :class:`Emulator`, the state and rules (videos, renders, credits, faults, the
  rate windows, the state file), without HTTP.
- ``app.py``: :func:`create_app`, the Starlette app and its routes, and the catalogue
  (:data:`AVATARS`, :data:`VOICES`, :data:`SUBTITLE_STYLES`).
- ``server.py``: :class:`EmulatorServer` (in-process, background thread) and :func:`serve` (the
  ``emulator`` command, foreground), loopback only.
- ``pipeline/emulator/ratelimit.py``: the rate windows and the headers announcing them.
"""

from __future__ import annotations

from pipeline.emulator.app import AVATARS, SUBTITLE_STYLES, VOICES, create_app
from pipeline.emulator.server import EmulatorServer, serve
from pipeline.emulator.settings import (
    ApiFault,
    EmulatorError,
    EmulatorSettings,
    EmulatorSettingsError,
    EmulatorStartError,
    EmulatorStats,
    StateFileError,
)
from pipeline.emulator.spec import _voice_models, check_body, utf16_units
from pipeline.emulator.state import Emulator, parse_json

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
    "_voice_models",
    "check_body",
    "create_app",
    "parse_json",
    "serve",
    "utf16_units",
]
