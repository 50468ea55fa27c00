"""A CSV output in the input's encoding and delimiter, UTF-8 with a BOM (and a note) when a
value cannot be written in it. The notes in a run's lines: tests/e2e/test_csv_output.py."""

from __future__ import annotations

from pathlib import Path

from pipeline.sheets import OutputFile, read_sheet, write_output


def european(tmp_path: Path) -> Path:
    """As European Excel saves a CSV: cp1252, semicolons, decimal commas."""
    path = tmp_path / "leads.csv"
    path.write_bytes(
        "name;price;city\r\nJürgen;9,50;Köln\r\nZoë;3,20;Besançon\r\n".encode("cp1252")
    )
    return path


def test_a_cp1252_semicolon_csv_comes_back_as_one(tmp_path: Path) -> None:
    sheet = read_sheet(european(tmp_path))
    assert (sheet.encoding, sheet.delimiter) == ("cp1252", ";")
    out = tmp_path / "out.csv"
    output = OutputFile(sheet, out)
    output.write({2: {"argil_status": "DONE", "argil_error": "€ 5 – fine"}})
    assert output.notes == []
    assert output.describe() == "CSV, cp1252, semicolon-separated"
    data = out.read_bytes()
    assert data.startswith(b"name;price;city;argil_row_key;")
    assert "Jürgen;9,50;Köln".encode("cp1252") in data and "€ 5 – fine".encode("cp1252") in data
    back = read_sheet(out, encoding="cp1252")
    assert [r.values["name"] for r in back.rows] == ["Jürgen", "Zoë"]


def test_a_value_cp1252_cannot_hold_makes_it_utf8_with_a_bom_and_a_note(tmp_path: Path) -> None:
    sheet = read_sheet(european(tmp_path))
    out = tmp_path / "out.csv"
    output = OutputFile(sheet, out)
    output.write({3: {"argil_error": "refused: ✓ is not allowed"}})
    [note] = output.notes
    assert note == (
        "out.csv is written as UTF-8 with a BOM, not cp1252 like the input: '✓' (U+2713) "
        "cannot be written in cp1252"
    )
    assert output.describe() == "CSV, UTF-8 with a BOM, semicolon-separated"
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfname;price;city;")
    assert "Jürgen".encode() in data and "✓".encode() in data
    # A later write that fits goes back to the input's encoding; the note was said once.
    output.write({3: {"argil_error": "fine"}})
    assert out.read_bytes().startswith(b"name;") and len(output.notes) == 1


def test_utf8_and_other_inputs_keep_their_encoding(tmp_path: Path) -> None:
    path = tmp_path / "u16.txt"
    path.write_bytes("a\tb\r\nÅsa\t1\r\n".encode("utf-16"))
    sheet = read_sheet(path)
    out = tmp_path / "out.tsv"
    write_output(sheet, {2: {"argil_status": "DONE"}}, out)
    assert out.read_bytes().startswith("a\tb\t".encode("utf-16"))
    assert read_sheet(out).rows[0].values["a"] == "Åsa"
