"""The TTS models a moment's ``voiceModel`` may name.

The spec lists them in words only (the description of ``voiceModel``), so no schema check
catches a typo: the API refuses it after the row was sent. They are written out here, and a
test holds this list to the spec's text, so a new model in the spec shows up as a failure
rather than as rows refused in the field.
"""

from __future__ import annotations

import difflib

ELEVENLABS_MODELS = (
    "eleven_multilingual_v2",
    "eleven_multilingual_v1",
    "eleven_monolingual_v1",
    "eleven_turbo_v2",
    "eleven_turbo_v2_5",
    "eleven_flash_v2_5",
    "eleven_v3",
)
MINIMAX_MODELS = (
    "speech-02-hd",
    "speech-02-turbo",
    "speech-2.5-hd",
    "speech-2.5-turbo",
    "speech-2.6-hd",
    "speech-2.6-turbo",
    "speech-2.8-hd",
    "speech-2.8-turbo",
)
VOICE_MODELS = frozenset(ELEVENLABS_MODELS + MINIMAX_MODELS)


def voice_model_error(name: str) -> str | None:
    """Why ``name`` is not a voice model the API takes, with a "did you mean"; None when it is.

    Which provider a voice belongs to is not known before sending (the voice list does not
    say), so a name from either list is accepted."""
    if name in VOICE_MODELS:
        return None
    models = ELEVENLABS_MODELS + MINIMAX_MODELS
    lowered = {model.lower(): model for model in models}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    hint = f"; did you mean {lowered[close[0]]!r}?" if close else ""
    return (
        f"unknown voice model {name!r}{hint} (ElevenLabs voices take one of "
        f"{', '.join(ELEVENLABS_MODELS)}; Minimax voices one of {', '.join(MINIMAX_MODELS)})"
    )
