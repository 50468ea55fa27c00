"""The YAML column config: its pydantic model and loading with clear, located errors.

A config says how a spreadsheet row becomes a ``POST /videos`` body. Every value under
``video`` and ``moments`` is a Jinja2 template rendered against the row (see
:mod:`pipeline.mapping`); numbers and booleans may also be written as plain YAML values.
``input`` names columns and ``limits``/``api`` hold plain settings. Loading checks everything
that can be checked without a sheet: unknown keys (with a "did you mean"), missing keys,
types, template syntax, constant values of enumerations, numbers and booleans, and the extras
budget.

The package is split by concern: ``templates`` (the templates' sandbox: what one render may
write, build and take), ``values`` (reading one value: the parsers shared with the mapper, the
pydantic field types built on them), ``model`` (the sections and their keys), ``loading`` (YAML
in, located problems with hints out) and ``messages`` (the error, locations and pydantic's
errors in words, shared with the mapper). Everything the rest of the code uses is importable
from here.

Exceptions: :class:`ConfigError` is the only one loading raises; it carries every problem
found, one located line each (``configs/x.yaml:7: video.subtitle: unknown key; did you mean
'subtitles'?``). :func:`render` raises :class:`TemplateLimitError` when a render passes a bound,
and whatever else the template raises.
"""

from pipeline.config.loading import load_config, parse_config
from pipeline.config.messages import ConfigError, format_path, pydantic_message, show_value
from pipeline.config.model import (
    BATCH_KEY_EXTRA,
    BROLL_FIELDS,
    DEFAULT_MAX_MOMENTS,
    DEFAULT_READ_RPM,
    MAX_CONFIG_EXTRAS,
    PUBLISHED_TRANSCRIPT_CHARS,
    ApiConfig,
    AutoBrollsConfig,
    BackgroundMusicConfig,
    BrollConfig,
    Config,
    InputConfig,
    KeyframeConfig,
    LimitsConfig,
    MomentConfig,
    SubtitlesConfig,
    VideoConfig,
    ZoomConfig,
    config_warnings,
)
from pipeline.config.templates import (
    MAX_RENDER_CHARS,
    MAX_STEPS,
    MAX_VALUE_CHARS,
    TemplateEnvironment,
    TemplateLimitError,
    render,
)
from pipeline.config.values import (
    TEMPLATE_ENV,
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
    bool_problem,
    choice_lookup,
    choices_text,
    is_template,
    number_problem,
    parse_bool,
    parse_easing,
    parse_number,
)

__all__ = [
    "BATCH_KEY_EXTRA",
    "BROLL_FIELDS",
    "DEFAULT_MAX_MOMENTS",
    "DEFAULT_READ_RPM",
    "MAX_CONFIG_EXTRAS",
    "MAX_RENDER_CHARS",
    "MAX_STEPS",
    "MAX_VALUE_CHARS",
    "PUBLISHED_TRANSCRIPT_CHARS",
    "TEMPLATE_ENV",
    "ApiConfig",
    "AspectRatioChoice",
    "AutoBrollsConfig",
    "BackgroundMusicConfig",
    "BrollConfig",
    "Columns",
    "Config",
    "ConfigError",
    "Easing",
    "Flag",
    "InputConfig",
    "IntensityChoice",
    "KeyframeConfig",
    "LayoutChoice",
    "LimitsConfig",
    "MomentConfig",
    "Number",
    "PositionChoice",
    "PositiveNumber",
    "Rpm",
    "SizeChoice",
    "SourceChoice",
    "SubtitlesConfig",
    "Template",
    "TemplateEnvironment",
    "TemplateLimitError",
    "Text",
    "VideoConfig",
    "VideoModelChoice",
    "ZoomConfig",
    "bool_problem",
    "choice_lookup",
    "choices_text",
    "config_warnings",
    "format_path",
    "is_template",
    "load_config",
    "number_problem",
    "parse_bool",
    "parse_config",
    "parse_easing",
    "parse_number",
    "pydantic_message",
    "render",
    "show_value",
]
