"""`avatars`, `voices` and `styles` against the emulator over HTTP: tables, JSON, search,
every page of a paged list, and the errors a user meets."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result

from pipeline.argil.catalogue import matches
from pipeline.emulator import AVATARS, SUBTITLE_STYLES, VOICES, EmulatorServer
from pipeline.emulator import app as emulator_app

# Any key the emulator takes; the cases below are known by it (their ids).
KEY = "sk-test-catalogue-0123456789"
MakeEmulator = Callable[..., EmulatorServer]


def first_line(result: Result) -> str:
    return result.stdout.splitlines()[0].strip()


def test_avatars_table_shows_each_gesture_slug_and_label(
    emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    result = cli("avatars", "--base-url", emulator.base_url)
    assert result.exit_code == 0, result.stderr
    assert first_line(result) == "Avatars (4)"
    for avatar in AVATARS:
        assert avatar["id"] in result.stdout
        for gesture in avatar["gestures"]:
            assert f"{gesture['slug']}: {gesture['label']}" in result.stdout


@pytest.mark.parametrize(
    ("kind", "expected"), [("avatars", AVATARS), ("voices", VOICES), ("styles", SUBTITLE_STYLES)]
)
def test_json_lists_the_whole_catalogue(
    emulator: EmulatorServer,
    kind: str,
    expected: list[dict[str, object]],
    cli: Callable[..., Result],
) -> None:
    result = cli(kind, "--json", "--base-url", emulator.base_url)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == expected


def test_voices_and_styles_tables(emulator: EmulatorServer, cli: Callable[..., Result]) -> None:
    voices = cli("voices", "--base-url", emulator.base_url)
    assert voices.exit_code == 0 and first_line(voices) == "Voices (5)"
    assert "Narrator (neutral, en-US)" in voices.stdout
    styles = cli("styles", "--base-url", emulator.base_url)
    assert styles.exit_code == 0 and first_line(styles) == "Subtitle styles (3)"
    assert "style-karaoke" in styles.stdout


def test_search_narrows_by_id_name_or_gesture(
    emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    url = ["--base-url", emulator.base_url, "--json"]
    voices = json.loads(cli("voices", "--search", "EN-us", *url).stdout)
    assert [v["id"] for v in voices] == ["voice-emma", "voice-marcus", "voice-narrator"]
    thumbs = json.loads(cli("avatars", "--search", "thumbs", *url).stdout)
    assert [a["id"] for a in thumbs] == ["avatar-emma", "avatar-lina"]
    both = json.loads(cli("avatars", "--search", "wave open", *url).stdout)
    assert [a["id"] for a in both] == ["avatar-lina"]
    none = cli("styles", "--search", "neon", "--base-url", emulator.base_url)
    assert none.exit_code == 0 and none.stdout == ""
    assert none.stderr == "no styles match 'neon'\n"


def test_every_page_of_subtitle_styles_is_read(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    many = [{"id": f"style-{i:03d}", "name": f"Style {i}"} for i in range(250)]
    monkeypatch.setattr(emulator_app, "SUBTITLE_STYLES", many)
    result = cli("styles", "--json", "--base-url", emulator.base_url)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == many
    assert emulator.emulator.stats.requests == 3  # pages of 100, 100 and 50


def test_the_sandbox_needs_no_key(cli: Callable[..., Result]) -> None:
    result = cli("avatars", "--sandbox", "--json", key="")
    assert result.exit_code == 0, result.stderr
    assert [a["id"] for a in json.loads(result.stdout)] == [a["id"] for a in AVATARS]


@pytest.mark.parametrize(
    ("args", "key", "message"),
    [
        (["--base-url", "http://127.0.0.1:1"], None, "Error: no API key: set ARGIL_API_KEY"),
        (
            ["--base-url", "http://example.com"],
            KEY,
            "Error: refusing plain http to example.com",
        ),
        (
            ["--sandbox", "--base-url", "https://x.example"],
            KEY,
            "Error: --sandbox asks a local",
        ),
    ],
)
def test_unusable_settings_are_one_error_line_and_exit_2(
    args: list[str], key: str | None, message: str, cli: Callable[..., Result]
) -> None:
    result = cli("voices", *args, key=key)
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_a_refused_key_is_exit_3_and_never_shown(
    make_emulator: MakeEmulator, cli: Callable[..., Result]
) -> None:
    server = make_emulator(api_key="the-right-key")
    result = cli("avatars", "--base-url", server.base_url, key="sk-wrong-key-123456")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: cannot list the avatars: HTTP 401")
    assert result.stderr.count("\n") == 1
    assert "sk-wrong-key-123456" not in result.stderr + result.stdout


def test_a_name_that_looks_like_markup_is_shown_as_written(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Result]
) -> None:
    monkeypatch.setattr(emulator_app, "VOICES", [{"id": "v-1", "name": "[bold]Loud[/bold]"}])
    result = cli("voices", "--base-url", emulator.base_url)
    assert result.exit_code == 0 and "[bold]Loud[/bold]" in result.stdout


def test_matches_ignores_case_and_needs_every_word() -> None:
    entry = {"id": "avatar-x", "name": "Xena", "gestures": [{"label": "Wave", "slug": "wave"}]}
    assert matches(entry, None) and matches(entry, "") and matches(entry, "XENA wave")
    assert not matches(entry, "xena nod")
