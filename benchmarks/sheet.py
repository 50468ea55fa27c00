"""A large leads sheet for the benchmarks: five columns, scripts of 200 to 1,500 characters.

    python benchmarks/sheet.py 100000 /tmp/bench.csv      # or .xlsx

Columns: ``email`` (the row key), ``name``, ``avatar``, ``voice``, ``script``. A third of the
scripts are longer than the 500-character moment limit of ``bench.yaml``, so they become two or
more moments; the rest fit in one. The same ``seed`` gives the same file.
"""

from __future__ import annotations

import argparse
import csv
import random
from collections.abc import Iterator
from pathlib import Path

HEADERS = ["email", "name", "avatar", "voice", "script"]
MOMENT_LIMIT = 500  # limits.transcript_chars in bench.yaml
LONG_SHARE = 1 / 3

_FIRST = ["Maya", "Daniel", "Sofia", "Liam", "Aiko", "Omar", "Chloé", "Mateo", "Priya", "Jonas"]
_LAST = ["Chen", "Okafor", "García", "Novak", "Tanaka", "Haddad", "Müller", "Rossi", "Singh"]
# Avatars that all have the "wave" gesture bench.yaml asks for (pre-flight checks it).
_PEOPLE = [
    ("avatar-emma", "voice-emma"),
    ("avatar-noah", "voice-noah"),
    ("avatar-lina", "voice-lina"),
]
_SENTENCES = [
    "Teams like yours usually lose hours every week stitching reports together by hand.",
    "We give growth teams a live pipeline view in under a day, with no data engineer needed.",
    "Would a fifteen-minute walkthrough next Tuesday be useful?",
    "Our route planner saved a fleet of your size eleven percent on fuel in one quarter.",
    "I recorded this short video to show how it would look on your own numbers.",
    "Most tools make you choose between speed and accuracy; this one refuses that trade-off.",
    "Setup takes an afternoon, and your data never leaves your own cloud account.",
    "Customers tell us the same thing again and again: after a week, they forget it is there.",
    "If the timing is wrong, just reply later and I will follow up next quarter.",
    "Congratulations on the new office, by the way; that is a big step for any team.",
]


def script(rng: random.Random, length: int) -> str:
    """Whole sentences up to about ``length`` characters (never under 200)."""
    parts: list[str] = []
    size = 0
    while size < length:
        sentence = rng.choice(_SENTENCES)
        parts.append(sentence)
        size += len(sentence) + 1
    text = " ".join(parts)
    return text[: max(200, length)].rstrip()


def rows(count: int, seed: int = 7) -> Iterator[list[str]]:
    rng = random.Random(seed)
    for n in range(count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        avatar, voice = rng.choice(_PEOPLE)
        if rng.random() < LONG_SHARE:
            length = rng.randint(MOMENT_LIMIT + 20, 1500)
        else:
            length = rng.randint(210, MOMENT_LIMIT - 20)
        yield [f"lead{n}@example.com", f"{first} {last}", avatar, voice, script(rng, length)]


def write_sheet(path: Path, count: int, seed: int = 7) -> Path:
    """Write ``count`` rows to ``path`` (.csv, or .xlsx through openpyxl's write-only mode)."""
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet("Leads")
        sheet.append(HEADERS)
        for row in rows(count, seed):
            sheet.append(row)
        book.save(path)
        return path
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADERS)
        writer.writerows(rows(count, seed))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write_sheet(args.path, args.rows, args.seed)


if __name__ == "__main__":
    main()
