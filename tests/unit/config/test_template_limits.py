"""Bounds on what a config's templates can make the tool do (issue 21): a template that would
write too much, build too wide a value or take too many steps is each row's error, said once
for the config, in little time and memory (measured in-process with tracemalloc); templates
within the bounds render as they did. Through the command line: tests/e2e/test_hostile_input.py.
"""

from __future__ import annotations

from pathlib import Path

from hostile_files import measured, no_hang, write_csv

from pipeline.config import load_config
from pipeline.sheets import read_sheet
from pipeline.validation import format_row_errors, validate_rows

__all__ = ["no_hang"]  # an autouse fixture: each test here fails rather than hang

BOMBS = {
    # Nested loops: 10 billion turns, writing as they go.
    "name": "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
    # One step that would build a gigabyte.
    "wide": "{{ 'x'|center(10**9) }}",
    "padded": "{{ '%1000000000s'|format('x') }}",
}
BOMB_CONFIG = f"""\
input: {{key: email}}
video:
  name: "{BOMBS["name"]}"
  extras:
    wide: "{BOMBS["wide"]}"
    padded: "{BOMBS["padded"]}"
moments:
  - transcript: "{{{{ script }}}}"
    avatar_id: avatar-emma
"""
WRITES_TOO_MUCH = "it writes more than 65,536 characters, the most a config value may render"
CENTER_TOO_WIDE = (
    "the filter center would make 1,000,000,000 characters, more than the 1,048,576 a "
    "template may build"
)
FORMAT_TOO_WIDE = (
    "the filter format would make 1,000,000,013 characters, more than the 1,048,576 a "
    "template may build"
)


def bomb_files(tmp_path: Path, rows: int = 3, config: str = BOMB_CONFIG) -> tuple[Path, Path]:
    sheet = tmp_path / "leads.csv"
    write_csv(
        sheet,
        ["email", "script"],
        [[f"lead{n}@example.com", f"Hello lead {n}."] for n in range(rows)],
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(config, encoding="utf-8")
    return sheet, path


def config_lines(config: Path, rows: str) -> list[str]:
    return [
        f"{config}:3: video.name: template error: {WRITES_TOO_MUCH} (in {rows})",
        f"{config}:5: video.extras.wide: template error: {CENTER_TOO_WIDE} (in {rows})",
        f"{config}:6: video.extras.padded: template error: {FORMAT_TOO_WIDE} (in {rows})",
    ]


def test_template_bombs_are_each_rows_error_said_once_in_little_time_and_memory(
    tmp_path: Path,
) -> None:
    sheet, config = bomb_files(tmp_path)
    report, seconds, peak_mb = measured(
        lambda: validate_rows(read_sheet(sheet), load_config(config))
    )
    assert seconds < 5 and peak_mb < 64, (seconds, peak_mb)
    assert (report.valid, report.invalid) == (0, 3)
    for plan in report.plans:
        assert [str(error) for error in plan.errors] == [
            f"name: template error: {WRITES_TOO_MUCH}",
            f"extras.wide: template error: {CENTER_TOO_WIDE}",
            f"extras.padded: template error: {FORMAT_TOO_WIDE}",
        ]
    listed = [line for plan in report.plans for line in format_row_errors(plan)]
    assert listed == config_lines(config, "3 rows: 2-4")


def test_a_template_that_reads_no_column_is_not_rendered_again_for_every_row(
    tmp_path: Path,
) -> None:
    """The nested loops cost 0.1 s a render; a sheet of 400 rows must not cost 40 s."""
    sheet, config = bomb_files(tmp_path, rows=400)
    report, seconds, _ = measured(lambda: validate_rows(read_sheet(sheet), load_config(config)))
    assert seconds < 5, seconds
    assert report.invalid == 400
    listed = [line for plan in report.plans for line in format_row_errors(plan)]
    assert listed == config_lines(config, "400 rows: 2-401")


def test_the_rows_a_template_limit_affects_are_named_in_runs(tmp_path: Path) -> None:
    config = tmp_path / "wide.yaml"
    config.write_text(
        "input: {key: email}\nvideo:\n  name: Intro\n"
        '  extras: {wide: "{{ script|center(width|int) }}"}\n'
        'moments:\n  - transcript: "{{ script }}"\n    avatar_id: avatar-emma\n',
        encoding="utf-8",
    )
    sheet = tmp_path / "leads.csv"
    # Rows 2-4, 6, 8, ... 30 ask for too wide a value: 14 runs, the first ten named.
    too_wide = {2, 3, 4, *range(6, 31, 2)}
    write_csv(
        sheet,
        ["email", "script", "width"],
        [[f"{n}@example.com", "Hi.", "2000000" if n in too_wide else "9"] for n in range(2, 32)],
    )
    report = validate_rows(read_sheet(sheet), load_config(config))
    assert report.invalid == len(too_wide) == 16
    assert [line for plan in report.plans for line in format_row_errors(plan)] == [
        f"{config}:4: video.extras.wide: template error: the filter center would make "
        "2,000,000 characters, more than the 1,048,576 a template may build (in 16 rows: "
        "2-4, 6, 8, 10, 12, 14, 16, 18, 20, 22 and 4 more)"
    ]


def test_templates_within_the_bounds_render_as_they_did(tmp_path: Path) -> None:
    script = " ".join(f"Sentence {n} of a long script, said slowly." for n in range(550))
    assert 24_000 < len(script) < 25_000  # about as long as 50 moments hold
    config = tmp_path / "ok.yaml"
    config.write_text(
        """\
input: {key: email}
video:
  name: "{% macro hi(who) %}Hi {{ who }}{% endmacro %}{{ hi(first|title) ~ '!' }}"
  extras:
    code: "{{ '%05d'|format(42) }}-{{ '{:,}'.format(1234567) }}-{{ 'x'|center(5) }}|"
    words: "{% set ns = namespace(n=0) %}{% for w in script.split() %}\
{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}"
moments:
  - transcript: "{% for w in script.split() %}{{ w }} {% endfor %}"
    avatar_id: avatar-emma
""",
        encoding="utf-8",
    )
    sheet = tmp_path / "leads.csv"
    write_csv(sheet, ["email", "first", "script"], [["a@example.com", "ana", script]])
    [plan] = validate_rows(read_sheet(sheet), load_config(config)).plans
    assert plan.body is not None, plan.errors
    assert plan.body["name"] == "Hi Ana!"
    assert plan.body["extras"]["code"] == "00042-1,234,567-  x  |"
    assert plan.body["extras"]["words"] == str(len(script.split()))
    assert 45 < len(plan.body["moments"]) <= 50
    assert " ".join(m["transcript"] for m in plan.body["moments"]) == script
