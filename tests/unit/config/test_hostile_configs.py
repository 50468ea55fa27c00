"""Broken config files: whatever a config holds, the loader returns a config or raises its own
ConfigError with its problems, never anything else (random text and bytes, YAML documents
shaped like a config, mutations of the shipped configs). Configs built to exhaust memory:
tests/e2e/test_hostile_input.py, which reads them in a child process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hostile_files import EDITS, FUZZ, REAL_CONFIGS, mutate, no_hang, write_temp
from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import ConfigError, load_config, parse_config

__all__ = ["no_hang"]  # an autouse fixture: each test here fails rather than hang


def parse_or_refuse(text: str) -> str:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert exc.problems and all(p.strip() for p in exc.problems)
        return "refused"
    return "read"


@FUZZ
@given(text=st.text(max_size=2000))
def test_random_text_configs_are_loaded_or_refused(text: str) -> None:
    parse_or_refuse(text)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_config_files_are_loaded_or_refused(data: bytes) -> None:
    path = write_temp(data, ".yaml")
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.problems


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "input",
                    "video",
                    "moments",
                    "limits",
                    "api",
                    "name",
                    "transcript",
                    "avatar_id",
                    "key",
                    "extras",
                    "zoom",
                    "keyframes",
                    "broll",
                    "subtitles",
                    "when",
                    "time",
                    "scale",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@FUZZ
@given(document=YAML_VALUES)
def test_config_shaped_documents_are_loaded_or_refused(document: Any) -> None:
    parse_or_refuse(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(source=st.sampled_from(REAL_CONFIGS), edits=EDITS)
def test_mutated_real_configs_are_loaded_or_refused(source: Path, edits: Any) -> None:
    data = mutate(source.read_bytes(), edits)
    try:
        load_config(write_temp(data, ".yaml"))
    except ConfigError as exc:
        assert exc.problems
