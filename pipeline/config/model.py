"""The pydantic model of the YAML config: its sections and what each key accepts.

``input`` names columns, ``video`` and ``moments`` hold the values (each a template or a
constant, see :mod:`pipeline.config.values`), ``limits`` and ``api`` plain settings. Checks that
span keys live here too: the settings a broll type takes, a moment's transcript or audio URL,
the extras budget (two of the API's five extras are always the row key and the batch tag).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.argil.models import (
    BROLL_TYPES,
    MAX_EXTRA_CHARS,
    MAX_EXTRAS,
    AvatarActionBroll,
    GenerationBroll,
    GoogleImagesBroll,
    StocksVideoBroll,
    UploadBroll,
)
from pipeline.batch import BATCH_KEY_EXTRA, BATCH_TAG_EXTRA
from pipeline.config.messages import _located
from pipeline.config.values import (
    AspectRatioChoice,
    Columns,
    Easing,
    Flag,
    IntensityChoice,
    LayoutChoice,
    Number,
    PositionChoice,
    PositiveNumber,
    Rpm,
    SizeChoice,
    SourceChoice,
    Template,
    Text,
    VideoModelChoice,
    _fail,
    _one_of,
    _plain_number,
    is_template,
)

MAX_CONFIG_EXTRAS = MAX_EXTRAS - 2
"""The API allows 5 extras: one is always the row key, one the batch tag."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Section):
    sheet: Text | None = None
    # The header's row as the spreadsheet shows it, when the guess (the first row that reads
    # as a header, under title rows) is wrong; 1-based, like every row number the user sees.
    header_row: Annotated[StrictInt, Field(ge=1)] | None = None
    key: Annotated[Columns, Field(min_length=1)] | None = None
    skip_when_blank: Columns = Field(default_factory=list)
    # A template: a row where it renders false or blank (no, 0, off) is SKIPPED.
    when: Template | None = None
    namespace: Text = ""
    # The batch tag alone, when it must stay what earlier runs used (a config renamed): unlike
    # the namespace, it does not go into the row keys, so the batch's videos are found again.
    batch: Text = ""

    @field_validator("namespace", "batch")
    @classmethod
    def _tag_fits(cls, value: str, info: ValidationInfo) -> str:
        # It is also the batch tag every video carries in its extras.
        if len(value.strip()) > MAX_EXTRA_CHARS:
            raise _fail(
                f"{info.field_name}_length",
                f"the {info.field_name} is over {MAX_EXTRA_CHARS} characters: it is also the "
                "batch tag every video carries in its extras",
            )
        return value


class SubtitlesConfig(_Section):
    enable: Flag = True
    style_id: Template | None = None
    position: PositionChoice | None = None
    size: SizeChoice | None = None


class AutoBrollsConfig(_Section):
    enable: Flag = True
    source: SourceChoice
    intensity: IntensityChoice
    layout: LayoutChoice | None = None


class BackgroundMusicConfig(_Section):
    asset_id: Template
    volume: Number | None = None


class KeyframeConfig(_Section):
    time: Number
    scale: Number
    # Four numbers, or one template rendering four numbers ("0.42, 0, 0.58, 1").
    easing: Easing | None = None


class ZoomConfig(_Section):
    keyframes: Annotated[list[KeyframeConfig], Field(min_length=1, max_length=20)]


_BROLL_MODELS: dict[str, type[BaseModel]] = {
    "AVATAR_ACTION": AvatarActionBroll,
    "GENERATION": GenerationBroll,
    "STOCKS_VIDEO": StocksVideoBroll,
    "GOOGLE_IMAGES": GoogleImagesBroll,
    "UPLOAD": UploadBroll,
}
BROLL_FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset(model.model_fields) - {"type"} for kind, model in _BROLL_MODELS.items()
}
"""Which broll settings each broll type takes (snake_case)."""
_broll_type = _one_of({kind.lower(): kind for kind in BROLL_TYPES})


class BrollConfig(_Section):
    type: Annotated[str, PlainValidator(_broll_type)]
    prompt: Template | None = None
    motion_prompt: Template | None = None
    query: Template | None = None
    animate: Flag | None = None
    asset_id: Template | None = None
    layout: LayoutChoice | None = None
    zoom: ZoomConfig | None = None

    @model_validator(mode="after")
    def _fields_fit_type(self) -> BrollConfig:
        if is_template(self.type):
            return self  # known per row only; the body validation checks it then
        allowed = BROLL_FIELDS[self.type]
        given = [name for name in self.model_fields_set if name != "type"]
        wrong = sorted(name for name in given if name not in allowed)
        if wrong:
            raise _fail(
                "broll_fields",
                f"{', '.join(wrong)} does not apply to broll type {self.type} "
                f"(it takes: {', '.join(sorted(allowed))})",
            )
        if self.type == "UPLOAD" and self.asset_id is None:
            raise _fail("broll_fields", "broll type UPLOAD needs asset_id")
        return self


class MomentConfig(_Section):
    transcript: Template | None = None
    audio_url: Template | None = None
    avatar_id: Template
    voice_id: Template | None = None
    voice_model: Template | None = None
    gesture_slug: Template | None = None
    zoom: ZoomConfig | None = None
    broll: BrollConfig | None = None
    when: Template | None = None
    broll_on: Literal["first", "all"] = "first"

    @model_validator(mode="after")
    def _a_source(self) -> MomentConfig:
        # Both may be given: a campaign where some rows bring a recorded voice-over and the
        # others a script. The spec's "exactly one" then holds per row, after blanks.
        if self.transcript is None and self.audio_url is None:
            raise _fail("moment_source", "a moment needs a transcript or an audio_url")
        return self


def _check_extras(value: dict[str, str]) -> dict[str, str]:
    if BATCH_KEY_EXTRA in value:
        raise _fail(
            "extras_reserved", f"{BATCH_KEY_EXTRA} is reserved: it always carries the row key"
        )
    if BATCH_TAG_EXTRA in value:
        raise _fail(
            "extras_reserved", f"{BATCH_TAG_EXTRA} is reserved: it always carries the batch tag"
        )
    if len(value) > MAX_CONFIG_EXTRAS:
        raise _fail(
            "extras_count",
            f"{len(value)} extras given, at most {MAX_CONFIG_EXTRAS}: the API takes {MAX_EXTRAS} "
            f"pairs and two are always set: {BATCH_KEY_EXTRA} (the row key) and "
            f"{BATCH_TAG_EXTRA} (the batch tag)",
        )
    for key in value:
        if len(key) > MAX_EXTRA_CHARS:
            raise _fail("extras_key", f"an extras name is over {MAX_EXTRA_CHARS} characters")
    return value


class VideoConfig(_Section):
    name: Template
    aspect_ratio: AspectRatioChoice | None = None
    model: VideoModelChoice | None = None
    subtitles: SubtitlesConfig | None = None
    auto_brolls: AutoBrollsConfig | None = None
    enable_auto_brolls: Flag | None = None
    background_music: BackgroundMusicConfig | None = None
    extras: dict[str, Template] | None = None

    @field_validator("extras")
    @classmethod
    def _extras_budget(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_extras(value)


# The transcript limit the API's documentation gives (older docs said 250): a higher one is
# allowed, since the limit has moved before, but warned about on every run.
PUBLISHED_TRANSCRIPT_CHARS = 500


# A moment of 500 characters is about 30 s of speech, so 50 are about 25 minutes of video
# (some 4,000 credits), far past the minute or two of a video per lead; a row past it is an
# accident (a whole document pasted into a cell: 200 MB made 419,432 moments, estimated at
# 41.9 million credits) and is refused before anything is sent. null lifts the ceiling.
DEFAULT_MAX_MOMENTS = 50


class LimitsConfig(_Section):
    transcript_chars: Annotated[StrictInt, Field(ge=1)] = PUBLISHED_TRANSCRIPT_CHARS
    max_moments: Annotated[StrictInt, Field(ge=1)] | None = DEFAULT_MAX_MOMENTS


# Reads a minute: the read limit Argil documents for its newer API, beside 60 writes.
DEFAULT_READ_RPM = 600.0


class ApiConfig(_Section):
    rpm: Rpm = 60.0
    # Reads (status polls, listings, the catalogue) have a gate of their own, so that they never
    # slow the creates; Argil documents 600 reads a minute beside 60 writes for its newer API.
    read_rpm: PositiveNumber = DEFAULT_READ_RPM
    concurrency: Annotated[StrictInt, Field(ge=1)] = 4
    max_credits: Annotated[float, PlainValidator(_plain_number), Field(ge=0)] | None = None


def config_warnings(config: Config) -> list[str]:
    """What the config allows but the API most likely refuses: one line each, for every run."""
    limit = config.limits.transcript_chars
    if limit <= PUBLISHED_TRANSCRIPT_CHARS:
        return []
    return [
        f"limits.transcript_chars is {limit}, above the published limit of "
        f"{PUBLISHED_TRANSCRIPT_CHARS} characters a moment: the API may refuse every longer "
        f"moment (set it to {PUBLISHED_TRANSCRIPT_CHARS} unless Argil has raised it)"
    ]


class RenderConfig(_Section):
    # A template: a row's draft is rendered (--render) only when it renders yes, true, 1, x
    # (an approval column a person fills in); otherwise it waits as a draft.
    when: Template | None = None


class DownloadConfig(_Section):
    # A template: the downloaded MP4's name (--download), made safe for every file system;
    # default: the row's key and the video's name.
    name: Template | None = None


class Config(_Section):
    input: InputConfig = Field(default_factory=InputConfig)
    video: VideoConfig
    moments: Annotated[list[MomentConfig], Field(min_length=1)]
    render: RenderConfig = Field(default_factory=RenderConfig)
    download: DownloadConfig = Field(default_factory=DownloadConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)

    _source: str = PrivateAttr(default="config")
    _lines: dict[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> str:
        """The file the config was read from (or the name given to ``parse_config``)."""
        return self._source

    def locate(self, loc: Sequence[str | int]) -> str:
        """``file:line: yaml.path`` for a place in this config, as errors show it."""
        return _located(self._source, self._lines, tuple(loc))

    def read_from(self, source: str, lines: dict[tuple[str | int, ...], int]) -> None:
        """Where the config was read: its file, and the line of each of its places."""
        self._source = source
        self._lines = lines
