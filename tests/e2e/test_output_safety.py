"""A user's file is never replaced by an output: an output path is written only when no file
has it, or when the file there is an output of argil-batch (its state file records writing
it, or its header has the result columns), unless --overwrite. The tool's own advice never
names an existing file, and any spelling of a path (``..`` past the root) means the file."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from click.testing import Result
from support import CLI_KEY, LEAD_HEADERS, job_files, lead, leads_config, read_output

import pipeline
from pipeline.emulator import EmulatorServer
from pipeline.errors import JobError

ROWS = 3
CONFIG = leads_config(api={"concurrency": 8})
USERS_FILE = b"name,phone\r\nAnn,+33 6 12 34 56 78\r\n"


def run(
    cli: Callable[..., Result], files: dict[str, Path], server: EmulatorServer, *extra: str
) -> Result:
    sheet, config = files["sheet"], files["config"]
    return cli("run", sheet, "-c", config, "--base-url", server.base_url, "--no-progress", *extra)


def listing(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def refused(path: Path) -> str:
    return (
        f"Error: {path} exists and is not an output of argil-batch; choose another -o, "
        "or pass --overwrite to replace it\n"
    )


@pytest.mark.parametrize("which", ["-o other.csv", "the default output", "-o other.xlsx"])
def test_a_users_file_at_the_output_path_is_refused_before_anything_is_sent(
    tmp_path: Path, emulator: EmulatorServer, which: str, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    extra: list[str] = []
    if which == "the default output":
        users = tmp_path / "leads.argil.csv"
        users.write_bytes(USERS_FILE)
    elif which == "-o other.xlsx":
        users = tmp_path / "other.xlsx"
        book = openpyxl.Workbook()
        book.active.append(["name", "phone"])
        book.save(users)
        extra = ["-o", str(users)]
    else:
        users = tmp_path / "other.csv"
        users.write_bytes(USERS_FILE)
        extra = ["-o", str(users)]
    before = listing(tmp_path)
    result = run(cli, files, emulator, *extra)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == refused(users)
    assert listing(tmp_path) == before, "the file is as it was, and no state or lock is left"
    assert emulator.emulator.videos == {}

    # Told to, the run replaces it.
    result = run(cli, files, emulator, *extra, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert len(emulator.emulator.videos) == ROWS
    if users.suffix == ".csv":
        assert [row["email"] for row in read_output(users)] == [lead(i)[0] for i in range(ROWS)]


def test_an_output_of_the_batch_is_rewritten_by_its_journal_or_its_header(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    extra = ["-o", str(files["output"]), "--state", str(files["state"])]
    assert run(cli, files, emulator, *extra).exit_code == 0
    # Its journal records writing it: rewritten on the next run.
    result = run(cli, files, emulator, *extra)
    assert result.exit_code == 0, result.stderr
    # Its state lost, its header still shows it an output: rewritten, and nothing made twice.
    for end in ("", "-wal", "-shm", ".lock"):
        Path(f"{files['state']}{end}").unlink(missing_ok=True)
    result = run(cli, files, emulator, *extra)
    assert result.exit_code == 0, result.stderr
    assert len(emulator.emulator.videos) == ROWS
    assert all(row["argil_video_id"] for row in read_output(files["output"]))


def test_the_python_api_refuses_a_users_file_unless_told_to_overwrite(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    users = tmp_path / "other.csv"
    users.write_bytes(USERS_FILE)
    options = {"output": users, "base_url": emulator.base_url, "api_key": CLI_KEY}
    with pytest.raises(JobError) as caught:
        pipeline.run(files["sheet"], files["config"], **options)  # type: ignore[arg-type]
    assert f"Error: {caught.value}\n" == refused(users)
    assert users.read_bytes() == USERS_FILE
    frame = pipeline.run(files["sheet"], files["config"], overwrite=True, **options)  # type: ignore[arg-type]
    assert frame.attrs["argil_summary"]["exit_code"] == 0


def test_the_advice_to_write_a_csv_never_names_an_existing_file(
    tmp_path: Path, emulator: EmulatorServer, cli: Callable[..., Result]
) -> None:
    files = job_files(tmp_path, CONFIG)
    with files["sheet"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*LEAD_HEADERS, "notes"])
        writer.writerow([*lead(0), "n" * 40_000])  # more than an XLSX cell holds
    output = tmp_path / "out.xlsx"
    (tmp_path / "out.csv").write_bytes(USERS_FILE)  # the name the advice would give
    result = run(cli, files, emulator, "-o", str(output))
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        "Error: row 2 'notes' has 40,000 characters, more than an XLSX cell holds (32,767); "
        "write the output as .csv instead (-o out-2.csv)\n"
    )
    # Following it works, and leaves the user's file alone.
    result = run(cli, files, emulator, "-o", str(tmp_path / "out-2.csv"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out.csv").read_bytes() == USERS_FILE


def test_more_dotdots_than_folders_mean_the_root_and_the_run_works(
    tmp_path: Path,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., Result],
) -> None:
    job_files(tmp_path, CONFIG, rows=ROWS)
    monkeypatch.chdir(tmp_path)
    up = "../" * (len(tmp_path.parts) + 4)
    output = f"{up}{tmp_path.relative_to(tmp_path.anchor)}{os.sep}out.csv"
    result = cli("run", "leads.csv", "-c", "c.yaml", "-o", output, "--base-url", emulator.base_url)
    assert result.exit_code == 0, result.stderr
    assert len(read_output(tmp_path / "out.csv")) == ROWS
    assert (tmp_path / "out.csv.state").exists()
