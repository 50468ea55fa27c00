"""pydantic v2 models of the Argil API, faithful to ``openapi.yaml``.

Request models mirror ``VideoCreateArgs`` field by field: snake_case attributes, the spec's
camelCase names on the wire, ``extra="forbid"`` exactly where the spec says
``additionalProperties: false`` and ``extra="allow"`` elsewhere. Rules the spec only states in
prose are enforced too: exactly one of transcript/audioUrl per moment, the transcript limit
(UTF-16 code units, configurable through the validation context) and at most 5 extras of at
most 256 characters each.

Response models are lenient on purpose: the API adds fields and statuses (CONTENT_MODERATED is
seen in the wild) and a batch must not crash on them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from pipeline.argil.voices import voice_model_error

DEFAULT_TRANSCRIPT_CHARS = 500
MAX_EXTRAS = 5
MAX_EXTRA_CHARS = 256
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def utf16_len(text: str) -> int:
    """Length as the server most likely counts it: UTF-16 code units (an emoji counts 2)."""
    return len(text.encode("utf-16-le")) // 2


class _Wire(BaseModel):
    """Base of request models: camelCase on the wire, snake_case in Python."""

    # Only the wire names are accepted: the spec refuses ``avatar_id`` in a moment, so must we.
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_json_nulls(cls, data: Any, info: ValidationInfo) -> Any:
        # No request field of the spec is nullable: a JSON null is refused, not read as unset.
        if info.mode == "json" and isinstance(data, dict):
            for name, spec in cls.model_fields.items():
                wire = spec.alias or name
                if wire in data and data[wire] is None:
                    raise ValueError(f"{wire} may not be null")
        return data

    def to_body(self) -> dict[str, Any]:
        """The exact JSON body to send: aliases, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class _OpenWire(_Wire):
    """Objects the spec leaves open (no ``additionalProperties: false``)."""

    model_config = ConfigDict(extra="allow")


# --- enums ------------------------------------------------------------------------------


class AspectRatio(StrEnum):
    LANDSCAPE = "16:9"
    PORTRAIT = "9:16"


class VideoModel(StrEnum):
    ARGIL_V1 = "ARGIL_V1"
    ARGIL_ATOM = "ARGIL_ATOM"


class SubtitlePosition(StrEnum):
    TOP = "Top"
    MIDDLE = "Middle"
    BOTTOM = "Bottom"


class SubtitleSize(StrEnum):
    SMALL = "Small"
    MEDIUM = "Medium"
    LARGE = "Large"


class BrollSource(StrEnum):
    GENERATION = "GENERATION"
    GOOGLE_IMAGES = "GOOGLE_IMAGES"
    STOCKS_VIDEO = "STOCKS_VIDEO"
    AVATAR_ACTION = "AVATAR_ACTION"


class BrollIntensity(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class BrollLayout(StrEnum):
    FULLSCREEN = "FULLSCREEN"
    AVATAR_BOTTOM_LEFT = "AVATAR_BOTTOM_LEFT"
    AVATAR_BOTTOM_RIGHT = "AVATAR_BOTTOM_RIGHT"
    AVATAR_TOP_LEFT = "AVATAR_TOP_LEFT"
    AVATAR_TOP_RIGHT = "AVATAR_TOP_RIGHT"
    SPLIT_AVATAR_LEFT = "SPLIT_AVATAR_LEFT"
    SPLIT_AVATAR_RIGHT = "SPLIT_AVATAR_RIGHT"
    SPLIT_AVATAR_TOP = "SPLIT_AVATAR_TOP"
    SPLIT_AVATAR_BOTTOM = "SPLIT_AVATAR_BOTTOM"
    BACKGROUND = "BACKGROUND"


# --- zoom -------------------------------------------------------------------------------


class ZoomKeyframe(_OpenWire):
    time: Annotated[float, Field(ge=0, le=1)]
    scale: Annotated[float, Field(ge=1, le=3)]
    easing: Annotated[list[float], Field(min_length=4, max_length=4)] | None = None


class Zoom(_OpenWire):
    keyframes: Annotated[list[ZoomKeyframe], Field(min_length=1, max_length=20)]


# --- per-moment B-roll: a union discriminated on ``type`` -------------------------------


class _Broll(_Wire):
    layout: BrollLayout | None = None
    zoom: Zoom | None = None


class AvatarActionBroll(_Broll):
    type: Literal["AVATAR_ACTION"]
    prompt: str | None = None
    motion_prompt: str | None = None


class GenerationBroll(_Broll):
    type: Literal["GENERATION"]
    prompt: str | None = None
    animate: bool | None = None


class StocksVideoBroll(_Broll):
    type: Literal["STOCKS_VIDEO"]
    query: str | None = None


class GoogleImagesBroll(_Broll):
    type: Literal["GOOGLE_IMAGES"]
    query: str | None = None
    animate: bool | None = None


class UploadBroll(_Broll):
    type: Literal["UPLOAD"]
    asset_id: Annotated[str, Field(pattern=UUID_PATTERN)]


MomentBroll = Annotated[
    AvatarActionBroll | GenerationBroll | StocksVideoBroll | GoogleImagesBroll | UploadBroll,
    Field(discriminator="type"),
]
BROLL_TYPES = ("AVATAR_ACTION", "GENERATION", "STOCKS_VIDEO", "GOOGLE_IMAGES", "UPLOAD")


# --- moments and the video ----------------------------------------------------------------


class Moment(_Wire):
    transcript: str | None = None
    audio_url: str | None = None
    avatar_id: str
    voice_id: str | None = None
    voice_model: str | None = None
    gesture_slug: str | None = None
    zoom: Zoom | None = None
    broll: MomentBroll | None = None

    @field_validator("transcript")
    @classmethod
    def _transcript_within_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        limit = transcript_limit(info)
        length = utf16_len(value)
        if length > limit:
            raise ValueError(
                f"transcript is {length} characters, over the limit of {limit} "
                "(counted in UTF-16 code units)"
            )
        return value

    @field_validator("voice_model")
    @classmethod
    def _known_voice_model(cls, value: str | None) -> str | None:
        # The spec lists the names in words only: checked here, before a row is sent.
        error = None if value is None else voice_model_error(value)
        if error is not None:
            raise ValueError(error)
        return value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Moment:
        if (self.transcript is None) == (self.audio_url is None):
            raise ValueError("a moment needs exactly one of transcript and audioUrl")
        return self


class Subtitles(_Wire):
    enable: bool
    style_id: str | None = None
    position: SubtitlePosition | None = None
    size: SubtitleSize | None = None


class AutoBrolls(_OpenWire):
    enable: bool
    source: BrollSource
    intensity: BrollIntensity
    layout: BrollLayout | None = None


class BackgroundMusic(_OpenWire):
    asset_id: str
    volume: Annotated[float, Field(ge=0, le=1)] | None = None


class VideoCreateArgs(_OpenWire):
    """The body of ``POST /videos``."""

    name: str
    moments: list[Moment]
    subtitles: Subtitles | None = None
    aspect_ratio: AspectRatio | None = None
    enable_auto_brolls: bool | None = None
    auto_brolls: AutoBrolls | None = None
    extras: dict[str, str] | None = None
    background_music: BackgroundMusic | None = None
    model: VideoModel | None = None

    @field_validator("extras")
    @classmethod
    def _extras_within_limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        # The spec's schema says maxProperties 10; its description says 5 pairs of at most 256
        # characters. The stricter rule wins: a body the server might refuse costs a row.
        if value is None:
            return value
        if len(value) > MAX_EXTRAS:
            raise ValueError(f"extras has {len(value)} pairs, at most {MAX_EXTRAS} are allowed")
        for key, item in value.items():
            if utf16_len(key) > MAX_EXTRA_CHARS or utf16_len(item) > MAX_EXTRA_CHARS:
                raise ValueError(f"extras[{key[:40]!r}] is over {MAX_EXTRA_CHARS} characters")
        return value


def transcript_limit(info: ValidationInfo) -> int:
    """The transcript limit for this validation: ``context={"transcript_chars": N}`` or 500."""
    context = info.context if isinstance(info.context, dict) else {}
    limit = context.get("transcript_chars", DEFAULT_TRANSCRIPT_CHARS)
    return int(limit)


# --- responses --------------------------------------------------------------------------


class _Response(BaseModel):
    """Base of response models: camelCase aliases, unknown fields kept, never refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class VideoStatus(StrEnum):
    IDLE = "IDLE"
    GENERATING_AUDIO = "GENERATING_AUDIO"
    GENERATING_VIDEO = "GENERATING_VIDEO"
    DONE = "DONE"
    FAILED = "FAILED"
    CONTENT_MODERATED = "CONTENT_MODERATED"


FINAL_STATUSES = frozenset({VideoStatus.DONE, VideoStatus.FAILED, VideoStatus.CONTENT_MODERATED})
FAILED_STATUSES = frozenset({VideoStatus.FAILED, VideoStatus.CONTENT_MODERATED})


class VideoMomentOut(_Response):
    transcript: str | None = None
    avatar_id: str | None = None
    voice_id: str | None = None
    audio_url: str | None = None
    video_url: str | None = None
    gesture_slug: str | None = None


class Video(_Response):
    id: str
    name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    # A plain string, not the enum: a status this code has never seen must not break a run.
    status: str | None = None
    duration: float | None = None
    moments: list[VideoMomentOut] | None = None
    video_url: str | None = None
    video_url_subtitled: str | None = None
    preview_url: str | None = None
    aspect_ratio: str | None = None
    extras: dict[str, Any] | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_failed(self) -> bool:
        return self.status in FAILED_STATUSES


class VideoPage(_Response):
    videos: list[Video] = Field(default_factory=list)
    total_items: int = 0
    total_pages: int = 0
    current_page: int = 1
    items_per_page: int = 0


class ApiError(_Response):
    code: int | None = None
    message: str | None = None


class Gesture(_Response):
    label: str | None = None
    slug: str
    start_frame: int | None = None


class Avatar(_Response):
    id: str
    name: str | None = None
    gestures: list[Gesture] = Field(default_factory=list)


class Voice(_Response):
    id: str
    name: str | None = None


class SubtitleStyle(_Response):
    id: str
    name: str | None = None


class SubtitleStylePage(_Response):
    items: list[SubtitleStyle] = Field(default_factory=list)
    total_items: int = 0
