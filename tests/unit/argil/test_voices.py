"""voiceModel names (``pipeline.argil.voices``), which the spec lists in words only: the
emulator refuses exactly the names the library refuses, and both read the list the spec writes."""

from __future__ import annotations

import pytest

from pipeline.argil.voices import VOICE_MODELS, voice_model_error
from pipeline.emulator import check_body


@pytest.mark.parametrize(
    "model",
    [*sorted(VOICE_MODELS), "eleven_v4", "ELEVEN_V3", "speech-02", "speech-2.8-hd ", "", "v3"],
)
def test_the_emulator_and_the_library_agree_on_every_name(model: str) -> None:
    body = {"name": "x", "moments": [{"avatarId": "a", "transcript": "t", "voiceModel": model}]}
    refused = [m for m in check_body(body) if "voiceModel" in m]
    assert bool(refused) == (voice_model_error(model) is not None), refused


def test_the_list_is_the_one_the_spec_writes_out() -> None:
    from pipeline.emulator import _voice_models

    assert _voice_models() == VOICE_MODELS
