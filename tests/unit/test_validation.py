"""Validating whole sheets: summaries, duplicates, the payloads file and the shipped examples."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ROOT, write_leads

from pipeline.argil.models import VideoCreateArgs
from pipeline.config import BATCH_KEY_EXTRA, ConfigError, load_config, parse_config
from pipeline.cost import CHARS_PER_SECOND, VIDEO_CREDITS_PER_MINUTE, VOICE_CREDITS_PER_MINUTE
from pipeline.emulator import check_body
from pipeline.mapping import INVALID, SKIPPED, VALID
from pipeline.sheets import read_sheet
from pipeline.validation import (
    ValidationReport,
    format_row_errors,
    validate_rows,
    write_payloads,
)

EXAMPLES = ROOT / "input_examples"
CONFIGS = ROOT / "configs"

CONFIG = """\
input:
  key: [sku, market]
  skip_when_blank: [script]
video:
  name: "{{ product }}"
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
"""


def report_for(tmp_path: Path, csv_text: str, config_text: str = CONFIG) -> ValidationReport:
    sheet_path = tmp_path / "in.csv"
    sheet_path.write_text(csv_text, encoding="utf-8")
    return validate_rows(read_sheet(sheet_path), parse_config(config_text, source="c.yaml"))


def example(sheet: str, config: str) -> ValidationReport:
    loaded = load_config(CONFIGS / config)
    return validate_rows(read_sheet(EXAMPLES / sheet, sheet=loaded.input.sheet), loaded)


def all_errors(report: ValidationReport) -> list[str]:
    return [line for plan in report.plans for line in format_row_errors(plan)]


# --- summaries and duplicates ------------------------------------------------------------


def test_summary_counts(tmp_path: Path) -> None:
    report = report_for(
        tmp_path,
        "sku,market,product,script\n"
        "A1,US,Alpha,Hello there.\n"
        "A1,FR,Alpha,Bonjour à tous.\n"
        "B2,US,,Hi.\n"
        "C3,US,Gamma,\n",
    )
    assert [p.status for p in report.plans] == [VALID, VALID, INVALID, SKIPPED]
    assert [p.row for p in report.plans] == [2, 3, 4, 5]
    assert (report.valid, report.invalid, report.skipped) == (2, 1, 1)
    assert report.moments == 2
    assert report.chars == len("Hello there.") + len("Bonjour à tous.")
    seconds = report.chars / CHARS_PER_SECOND
    assert report.est_seconds == round(seconds, 1)
    credits = seconds / 60 * (VIDEO_CREDITS_PER_MINUTE + VOICE_CREDITS_PER_MINUTE)
    assert report.est_credits == round(credits, 1)
    assert all_errors(report) == ["row 4: name: is blank"]


def test_later_row_with_the_same_key_is_invalid(tmp_path: Path) -> None:
    report = report_for(
        tmp_path,
        "sku,market,product,script\n"
        "A1,US,Alpha,First.\n"
        "B2,US,Beta,Second.\n"
        "A1,US,Alpha again,Third.\n"
        "A1,US,Alpha,\n",
    )
    assert [p.status for p in report.plans] == [VALID, VALID, INVALID, SKIPPED]
    duplicate = report.plans[2]
    assert duplicate.body is None and duplicate.payload_hash is None
    assert duplicate.key == report.plans[0].key
    assert format_row_errors(duplicate) == ["row 4: same key as row 2 (input.key: sku, market)"]
    assert (report.valid, report.invalid, report.moments) == (2, 1, 2)


def test_without_input_key_identical_rows_are_duplicates(tmp_path: Path) -> None:
    config = CONFIG.replace("  key: [sku, market]\n", "")
    report = report_for(
        tmp_path,
        "sku,market,product,script\nA1,US,Alpha,Same.\nA2,US,Alpha,Same.\nA3,US,Alpha,Other.\n",
        config,
    )
    assert [p.status for p in report.plans] == [VALID, INVALID, VALID]
    assert format_row_errors(report.plans[1]) == [
        "row 3: same content as row 2 (without input.key a row is known by its content; "
        "set input.key to tell such rows apart)"
    ]


def test_config_that_does_not_fit_the_sheet_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        report_for(tmp_path, "sku,product,script\nA1,Alpha,Hi.\n")
    assert caught.value.problems[0] == (
        "c.yaml:2: input.key[1]: no column 'market' in the sheet. "
        "The sheet's columns: sku, product, script"
    )


def test_empty_sheet(tmp_path: Path) -> None:
    report = report_for(tmp_path, "sku,market,product,script\n")
    assert report.plans == []
    assert (report.valid, report.invalid, report.skipped, report.est_credits) == (0, 0, 0, 0.0)


# --- the payloads file -------------------------------------------------------------------


def test_write_payloads(tmp_path: Path) -> None:
    report = report_for(
        tmp_path,
        "sku,market,product,script\nA1,US,Alpha,Hello.\nA1,FR,Crème,Bonjour.\nB2,US,,x\n",
    )
    out = tmp_path / "out" / "payloads.jsonl"
    out.parent.mkdir()
    assert write_payloads(report, out) == 2
    text = out.read_text(encoding="utf-8")
    assert "Crème" in text  # UTF-8, not \u escapes
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["row"] for line in lines] == [2, 3]
    for line, plan in zip(lines, report.plans, strict=False):
        assert line == {"row": plan.row, "key": plan.key, "body": plan.body}
        assert line["body"]["extras"][BATCH_KEY_EXTRA] == line["key"]
        assert VideoCreateArgs.model_validate(line["body"]).to_body() == line["body"]
        assert check_body(line["body"]) == []
    assert ": " not in text.splitlines()[0]  # compact
    assert sorted(p.name for p in out.parent.iterdir()) == ["payloads.jsonl"]  # no temp files


def test_write_payloads_replaces_and_cleans_up_on_failure(tmp_path: Path) -> None:
    report = report_for(tmp_path, "sku,market,product,script\nA1,US,Alpha,Hello.\n")
    out = tmp_path / "payloads.jsonl"
    out.write_text("old\n")
    assert write_payloads(report, out) == 1
    assert out.read_text().count("\n") == 1 and "old" not in out.read_text()
    with pytest.raises(OSError):
        write_payloads(report, tmp_path / "missing-folder" / "p.jsonl")
    report.plans[0].body = {"bad": object()}  # cannot be serialised
    with pytest.raises(TypeError):
        write_payloads(report, out)
    assert "old" not in out.read_text()  # the previous file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "payloads.jsonl"]


# --- the shipped examples ----------------------------------------------------------------


def test_leads_example_is_all_valid() -> None:
    report = example("leads.csv", "leads.yaml")
    assert (report.valid, report.invalid, report.skipped) == (8, 0, 0)
    first = report.plans[0].body
    assert first is not None
    assert first["name"] == "Intro for Maya Chen (Northwind Analytics)"
    assert first["moments"][0]["transcript"].startswith("Hi Maya! Congratulations")
    assert first["extras"]["campaign"] == "q3-outbound"
    assert first["aspectRatio"] == "9:16"
    for plan in report.plans:
        assert plan.body is not None and check_body(plan.body) == []
        assert 150 <= plan.chars <= 400


def test_launches_example_is_all_valid_and_splits_long_scripts() -> None:
    report = example("launches.xlsx", "launches.yaml")
    assert (report.valid, report.invalid, report.skipped) == (6, 0, 0)
    assert report.moments > 3 * report.valid  # every script is split
    for plan in report.plans:
        assert plan.body is not None and check_body(plan.body) == []
        moments = plan.body["moments"]
        assert "broll" in moments[0] and moments[0]["broll"]["type"] == "GENERATION"
        assert all("broll" not in m for m in moments[1:])
        assert all(len(m["transcript"]) <= 500 for m in moments)
    last = {p.row: p.body["moments"][-1]["transcript"] for p in report.plans if p.body}
    assert last[2].startswith("The AP-200 ships on October first.")  # the outro moment
    assert last[4].endswith("individually, at cost.")  # no outro: the script ends the video
    keys = {p.key for p in report.plans}
    assert len(keys) == 6  # AP-200 twice, in two markets


def test_launches_workbook_is_reproducible() -> None:
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build_launches() == (EXAMPLES / "launches.xlsx").read_bytes()


def test_broken_example_shows_each_kind_of_row_error() -> None:
    report = example("broken.csv", "broken.yaml")
    assert (report.valid, report.invalid, report.skipped) == (2, 9, 1)
    assert all_errors(report) == [
        "row 3: moments[0].avatarId: is blank",
        "row 4: moments[0].zoom.keyframes[1].scale: must be at most 3, got 4",
        "row 5: backgroundMusic.volume: 'loud' is not a number",
        "row 7: same key as row 2 (input.key: id)",
        "row 9: aspectRatio: must be one of '16:9', '9:16', got '4:3'",
        "row 10: name: is blank",
        "row 11: subtitles.enable: 'sometimes' is not true/false, yes/no, 1/0 or on/off",
        "row 12: moments[0].zoom.keyframes[1].scale: '1,5' is not a number "
        "(use a dot as the decimal separator)",
        "row 13: input.key (id) is blank: every row needs a key (list the column in "
        "input.skip_when_blank to skip such rows)",
    ]
    skipped = report.plans[4]
    assert (skipped.row, skipped.status, skipped.reason) == (6, SKIPPED, "script is blank")
    emoji = report.plans[6]
    assert emoji.status == VALID and emoji.body is not None
    script = read_sheet(EXAMPLES / "broken.csv").rows[6].values["script"]
    assert len(script) <= 500 < emoji.chars  # fits in characters, not in UTF-16 code units
    assert emoji.moments == 2


# --- the lead sheet and the leads config the tests share ------------------------------------


def test_the_shared_leads_config_fits_the_shared_lead_sheet(
    tmp_path: Path, config: Callable[..., Path]
) -> None:
    """What the end-to-end tests start from: every lead is valid, one moment of its script."""
    sheet = tmp_path / "leads.csv"
    write_leads(sheet, 3)
    report = validate_rows(read_sheet(sheet), load_config(config(api={"concurrency": 1})))
    assert (report.valid, report.invalid, report.skipped) == (3, 0, 0)
    assert {plan.moments for plan in report.plans} == {1}
    assert report.plans[0].body is not None
    assert report.plans[0].body["name"] == "Intro for Lead0 at Company 0"
