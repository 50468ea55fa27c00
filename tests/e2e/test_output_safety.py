"""A user's file is never replaced by an output: an output path is written only when no file
has it, or when the file there is an output of argil-batch (its state file records writing
it, or its header has the result columns), unless --overwrite. The tool's own advice never
names an existing file, and any spelling of a path (``..`` past the root) means the file."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from support import LEAD_HEADERS, job_files, lead, read_output

import pipeline
from pipeline.cli import main
from pipeline.emulator import EmulatorServer
from pipeline.errors import JobError

KEY = "sk-output"
ROWS = 3
CONFIG = """\
input: {key: [email]}
video: {name: "{{ first_name }}"}
moments:
  - transcript: "{{ script }}"
    avatar_id: avatar-emma
api: {rpm: 60000, concurrency: 8}
"""
USERS_FILE = b"name,phone\r\nAnn,+33 6 12 34 56 78\r\n"


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"ARGIL_API_KEY": KEY})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stderr


def run(files: dict[str, Path], server: EmulatorServer, *extra: str) -> tuple[int, str]:
    sheet, config = str(files["sheet"]), str(files["config"])
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
    tmp_path: Path, emulator: EmulatorServer, which: str
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
    code, err = run(files, emulator, *extra)
    assert code == 2, err
    assert err == refused(users)
    assert listing(tmp_path) == before, "the file is as it was, and no state or lock is left"
    assert emulator.emulator.videos == {}

    # Told to, the run replaces it.
    code, err = run(files, emulator, *extra, "--overwrite")
    assert code == 0, err
    assert len(emulator.emulator.videos) == ROWS
    if users.suffix == ".csv":
        assert [row["email"] for row in read_output(users)] == [lead(i)[0] for i in range(ROWS)]


def test_an_output_of_the_batch_is_rewritten_by_its_journal_or_its_header(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    extra = ["-o", str(files["output"]), "--state", str(files["state"])]
    assert run(files, emulator, *extra)[0] == 0
    # Its journal records writing it: rewritten on the next run.
    code, err = run(files, emulator, *extra)
    assert code == 0, err
    # Its state lost, its header still shows it an output: rewritten, and nothing made twice.
    for end in ("", "-wal", "-shm", ".lock"):
        Path(f"{files['state']}{end}").unlink(missing_ok=True)
    code, err = run(files, emulator, *extra)
    assert code == 0, err
    assert len(emulator.emulator.videos) == ROWS
    assert all(row["argil_video_id"] for row in read_output(files["output"]))


def test_the_python_api_refuses_a_users_file_unless_told_to_overwrite(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    files = job_files(tmp_path, CONFIG, rows=ROWS)
    users = tmp_path / "other.csv"
    users.write_bytes(USERS_FILE)
    options = {"output": users, "base_url": emulator.base_url, "api_key": KEY}
    with pytest.raises(JobError) as caught:
        pipeline.run(files["sheet"], files["config"], **options)  # type: ignore[arg-type]
    assert f"Error: {caught.value}\n" == refused(users)
    assert users.read_bytes() == USERS_FILE
    frame = pipeline.run(files["sheet"], files["config"], overwrite=True, **options)  # type: ignore[arg-type]
    assert frame.attrs["argil_summary"]["exit_code"] == 0


def test_the_advice_to_write_a_csv_never_names_an_existing_file(
    tmp_path: Path, emulator: EmulatorServer
) -> None:
    files = job_files(tmp_path, CONFIG)
    with files["sheet"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*LEAD_HEADERS, "notes"])
        writer.writerow([*lead(0), "n" * 40_000])  # more than an XLSX cell holds
    output = tmp_path / "out.xlsx"
    (tmp_path / "out.csv").write_bytes(USERS_FILE)  # the name the advice would give
    code, err = run(files, emulator, "-o", str(output))
    assert code == 2, err
    assert err == (
        "Error: row 2 'notes' has 40,000 characters, more than an XLSX cell holds (32,767); "
        "write the output as .csv instead (-o out-2.csv)\n"
    )
    # Following it works, and leaves the user's file alone.
    code, err = run(files, emulator, "-o", str(tmp_path / "out-2.csv"))
    assert code == 0, err
    assert (tmp_path / "out.csv").read_bytes() == USERS_FILE


def test_more_dotdots_than_folders_mean_the_root_and_the_run_works(
    tmp_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_files(tmp_path, CONFIG, rows=ROWS)
    monkeypatch.chdir(tmp_path)
    up = "../" * (len(tmp_path.parts) + 4)
    output = f"{up}{tmp_path.relative_to(tmp_path.anchor)}{os.sep}out.csv"
    code, err = cli(
        "run", "leads.csv", "-c", "c.yaml", "-o", output, "--base-url", emulator.base_url
    )
    assert code == 0, err
    assert len(read_output(tmp_path / "out.csv")) == ROWS
    assert (tmp_path / "out.csv.state").exists()
