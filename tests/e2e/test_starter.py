"""`init`: a starter config guessed from a sheet's values, which `validate` accepts once an
avatar id is filled in. Real CSV and XLSX files, through the command line."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import yaml
from click.testing import Result
from openpyxl import Workbook

from pipeline.config import load_config

CRM_HEADERS = [
    "Record ID",
    "First name",
    "Last name",
    "Email",
    "Company",
    "Lifecycle stage",
    "Create date",
    "Last activity",
    "Deal amount",
    "Phone",
    "Owner",
    "Outreach notes",
]
STAGES = ["Lead", "Marketing qualified", "Opportunity", "Customer"]


def crm_rows(count: int) -> list[list[str]]:
    rows = []
    for i in range(count):
        notes = (
            f"Met {i} at the spring fair; wants to see how the dashboard handles twelve "
            f"regional teams. Follow up with the case study and a demo slot next week ({i})."
        )
        rows.append(
            [
                str(10_230 + i),
                f"Ana{i}",
                f"Smith{i % 3}",  # not unique
                f"ana{i}@example.com",
                f"Company {i % 4}",
                STAGES[i % 4],
                f"2024-03-{1 + i % 28:02d} 14:{i % 60:02d}",
                # A long timestamp: longer than many texts, still never the script.
                f"2024-04-{1 + i % 28:02d}T09:15:00.000+02:00",
                f"${1_000 + 250 * i:,}",
                f"+1 (415) 555-{i:04d}",
                "Jo Park",
                "" if i == 3 else notes,  # a lead without notes yet
            ]
        )
    return rows


def write_csv(path: Path, headers: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def starter(
    cli: Callable[..., Result], tmp_path: Path, sheet: Path, *args: str
) -> tuple[Path, dict[str, object]]:
    result = cli("init", sheet, *args)
    assert result.exit_code == 0, result.stderr
    config = tmp_path / "starter.yaml"
    config.write_text(result.stdout, encoding="utf-8")
    return config, yaml.safe_load(result.stdout)


def fill_avatar(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    assert "avatar_id: ''  # your avatar's id: `argil-batch avatars` lists them\n" in text
    config.write_text(text.replace("avatar_id: ''", "avatar_id: avatar-emma"), encoding="utf-8")


def assert_only_the_avatar_is_missing(
    cli: Callable[..., Result], sheet: Path, config: Path, rows: int
) -> None:
    result = cli("validate", sheet, "-c", config)
    assert result.exit_code == 1
    *errors, summary = result.stdout.splitlines()
    # A blank constant is the config's mistake: said once, at its line, with the rows it hits.
    [error] = errors
    assert error.startswith(f"{config}:")
    assert f": moments[0].avatar_id: is blank (in {rows} rows: " in error
    assert f" {rows} invalid, " in summary
    fill_avatar(config)
    result = cli("validate", sheet, "-c", config)
    assert result.exit_code == 0, result.stdout + result.stderr


def test_a_crm_export_gets_its_notes_as_script_and_its_record_id_as_key(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet = write_csv(tmp_path / "crm.csv", CRM_HEADERS, crm_rows(30))
    config, data = starter(cli, tmp_path, sheet)
    assert data["input"] == {
        "namespace": "crm",
        "key": ["Record ID"],
        "skip_when_blank": ["Outreach notes"],
    }
    assert data["moments"] == [{"transcript": "{{ outreach_notes }}", "avatar_id": ""}]
    assert data["video"]["name"] == "Video for {{ company }}"  # type: ignore[index]
    assert "input.sheet" not in config.read_text(encoding="utf-8")
    assert_only_the_avatar_is_missing(cli, sheet, config, 29)
    summary = cli("validate", sheet, "-c", config).stdout.splitlines()[-1]
    assert summary.startswith("30 rows: 29 valid, 0 invalid, 1 skipped; ")


def test_without_an_id_the_email_is_the_key_and_an_avatar_column_is_used(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    headers = ["Name", "E-mail", "Avatar", "Voice", "Pitch", "Signed up"]
    rows = [
        [
            f"Lead {i}",
            f"lead{i}@example.com",
            "avatar-emma",
            "" if i % 2 else "voice-emma",
            f"Hello Lead {i}, thanks for signing up last week. Here is a tour of what is new.",
            f"0{1 + i % 9}/03/2024",
        ]
        for i in range(12)
    ]
    sheet = write_csv(tmp_path / "leads.csv", headers, rows)
    config, data = starter(cli, tmp_path, sheet)
    assert data["input"] == {"namespace": "leads", "key": ["E-mail"]}
    assert data["moments"] == [
        {"transcript": "{{ pitch }}", "avatar_id": "{{ avatar }}", "voice_id": "{{ voice }}"}
    ]
    assert cli("validate", sheet, "-c", config).exit_code == 0


def test_two_short_columns_unique_together_are_the_key(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    headers = ["sku", "market", "product", "script"]
    rows = [
        [sku, market, f"Product {sku}", f"Meet product {sku}, now in {market}. It does a lot."]
        for sku in ("AP-200", "KB-75", "SB-1")
        for market in ("US", "FR")
    ]
    sheet = write_csv(tmp_path / "launches.csv", headers, rows)
    config, data = starter(cli, tmp_path, sheet)
    assert data["input"] == {"namespace": "launches", "key": ["sku", "market"]}
    assert_only_the_avatar_is_missing(cli, sheet, config, 6)


def notes_workbook(path: Path) -> Path:
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Read me"
    for line in (
        "Export of the CRM, taken every Monday.",
        "Do not edit the Contacts sheet by hand: it is replaced at the next export.",
        "Stages: Lead, Marketing qualified, Opportunity, Customer.",
    ):
        notes.append([line])
    contacts = book.create_sheet("Contacts")
    contacts.append(CRM_HEADERS)
    for row in crm_rows(8):
        contacts.append(row)
    lookups = book.create_sheet("Stages")
    lookups.append(["stage", "order"])
    for order, stage in enumerate(STAGES, 1):
        lookups.append([stage, order])
    book.save(path)
    return path


def test_a_workbook_whose_first_sheet_is_notes_gets_input_sheet(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    sheet = notes_workbook(tmp_path / "export.xlsx")
    config, data = starter(cli, tmp_path, sheet)
    text = config.read_text(encoding="utf-8")
    listed = "# The workbook's sheets: 'Read me', 'Contacts', 'Stages'; the data is in 'Contacts'."
    assert listed in text
    assert data["input"] == {
        "namespace": "export",
        "sheet": "Contacts",
        "key": ["Record ID"],
        "skip_when_blank": ["Outreach notes"],
    }
    assert_only_the_avatar_is_missing(cli, sheet, config, 7)


def test_a_sheet_chosen_with_sheet_is_written(tmp_path: Path, cli: Callable[..., Result]) -> None:
    sheet = notes_workbook(tmp_path / "export.xlsx")
    config, data = starter(cli, tmp_path, sheet, "--sheet", "Stages")
    assert data["input"]["sheet"] == "Stages"  # type: ignore[index]
    assert load_config(config).input.sheet == "Stages"
    missing = cli("init", sheet, "--sheet", "Nope")
    assert missing.exit_code == 2 and missing.stderr.startswith("Error: ")
    assert "pass --sheet with one of: 'Read me', 'Contacts', 'Stages'" in missing.stderr


def test_a_header_only_sheet_goes_by_the_names(tmp_path: Path, cli: Callable[..., Result]) -> None:
    sheet = write_csv(tmp_path / "empty.csv", ["email", "First Name", "message"], [])
    config, data = starter(cli, tmp_path, sheet)
    assert data["moments"][0]["transcript"] == "{{ message }}"  # type: ignore[index]
    assert load_config(config).video.name == "My video"


def test_a_header_a_template_cannot_name_is_reached_through_row(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    headers = ["id", "class", "row", "Notes", "notes"]
    rows = [[str(i), "A", "x", f"Hello number {i}, here is a video.", "n"] for i in range(3)]
    sheet = write_csv(tmp_path / "odd.csv", headers, rows)
    config, data = starter(cli, tmp_path, sheet)
    assert data["moments"][0]["transcript"] == '{{ row["Notes"] }}'  # type: ignore[index]
    assert data["video"]["name"] == 'Video for {{ row["class"] }}'  # type: ignore[index]
    assert_only_the_avatar_is_missing(cli, sheet, config, 3)


def test_notes_laid_out_freely_are_passed_over(tmp_path: Path, cli: Callable[..., Result]) -> None:
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Cover"
    notes["A1"] = "Quarterly export"
    notes["C4"] = "Prepared by the sales team"  # no header above it: not a table
    data = book.create_sheet("Leads")
    data.append(["email", "pitch"])
    for i in range(3):
        data.append([f"l{i}@example.com", f"Hello {i}, this is the pitch for you today."])
    path = tmp_path / "cover.xlsx"
    book.save(path)
    config, loaded = starter(cli, tmp_path, path)
    assert loaded["input"] == {"namespace": "cover", "sheet": "Leads", "key": ["email"]}
    assert_only_the_avatar_is_missing(cli, path, config, 3)


def test_every_starter_names_its_campaign_without_the_export_date(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    name = "hubspot-crm-exports-all-contacts-2026-12-05.csv"
    sheet = write_csv(tmp_path / name, CRM_HEADERS, crm_rows(5))
    config, data = starter(cli, tmp_path, sheet)
    assert data["input"]["namespace"] == "hubspot-crm-exports-all-contacts"
    assert "keep it\n# when the sheet is renamed (a dated export)" in config.read_text("utf-8")
