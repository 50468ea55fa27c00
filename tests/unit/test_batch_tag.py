"""The batch tag: the same for one campaign wherever it runs, different between campaigns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipeline.batch import batch_tag
from pipeline.config import load_config
from pipeline.sheets import read_sheet
from pipeline.validation import validate_rows


def tag(**changes: object) -> str:
    names: dict[str, object] = {
        "namespace": "",
        "sheet_name": None,
        "config_path": "/home/ana/leads.yaml",
        "key_columns": ["email"],
    }
    names.update(changes)
    return batch_tag(**names)  # type: ignore[arg-type]


def test_the_folder_and_the_file_format_do_not_change_the_tag() -> None:
    assert tag() == tag(config_path="/srv/cron/LEADS.yml")
    assert tag().startswith("b-")


def test_another_config_tab_or_key_is_another_batch() -> None:
    assert tag() != tag(config_path="leads-fr.yaml")
    assert tag() != tag(key_columns=["email", "market"])
    assert tag(sheet_name="Spring") != tag(sheet_name="Autumn")


def test_a_namespace_is_the_tag_itself() -> None:
    assert tag(namespace=" spring-launch ") == "spring-launch"
    assert tag(namespace="spring-launch", config_path="other.yaml") == "spring-launch"


def test_every_body_of_a_sheet_carries_the_same_tag(
    tmp_path: Path, config: Callable[..., Path]
) -> None:
    sheet_path = tmp_path / "leads.csv"
    sheet_path.write_text("email,script\na@x.test,Hello\nb@x.test,Hi\n", encoding="utf-8")
    leads = load_config(config("leads.yaml", video={"name": "{{ email }}"}))
    report = validate_rows(read_sheet(sheet_path), leads)
    tags = {p.body["extras"]["argilBatch"] for p in report.plans if p.body}
    assert tags == {report.batch_tag}
    assert report.batch_tag == tag()


def test_a_dated_export_is_the_same_batch_every_night(
    tmp_path: Path, config: Callable[..., Path]
) -> None:
    leads = load_config(config("leads.yaml", video={"name": "{{ email }}"}))
    tags = set()
    for day in ("2026-12-04", "2026-12-05"):
        path = tmp_path / f"hubspot-crm-exports-all-contacts-{day}.csv"
        path.write_text("email,script\na@x.test,Hello\n", encoding="utf-8")
        report = validate_rows(read_sheet(path), leads)
        tags.add(report.batch_tag)
        keys = {p.key for p in report.plans}
    assert len(tags) == 1 and len(keys) == 1
