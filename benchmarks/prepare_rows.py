"""Preparing rows: what `argil-batch validate` (and a run, before its first request) costs.

    python benchmarks/prepare_rows.py                       # 100,000 rows
    python benchmarks/prepare_rows.py --rows 20000          # a smaller sheet
    python benchmarks/prepare_rows.py --splitter-from REV   # the same with REV's chunking.py

Writes a CSV sheet (seeded) for ``benchmarks/bench.yaml``: scripts of 200 to 1,500 characters
made of sentences of 60 to 120 characters with commas, semicolons, colons and dashes, a third of
them over the 500-unit moment limit as in ``benchmarks/sheet.py`` (``--long-share 1`` makes
them all of a length drawn from 200 to 1,500: four fifths over it); about a fifth carry accented
words, a tenth emoji (some with a skin tone or joined by ZWJ), a twentieth are Japanese
(full-width marks, no spaces). Then, in a process of its own (so that
its peak memory is its own): ``read_sheet`` and ``validate_rows``, the path of
``argil-batch validate``, timed (wall and the process's CPU), with the process's peak RSS
(getrusage); and, after that,
``split_transcript`` alone over the scripts longer than the moment limit.

It also splits a 120-row lead sheet (scripts of 400 to 900 characters) and counts the rows
where a moment ends inside a sentence although a split at sentence ends into as many moments
exists: the cuts a viewer notices.

``--splitter-from REV`` measures the same with ``pipeline/chunking.py`` as it was at a git
revision (read with ``git show``; nothing in the work tree changes): the figures before a
change. Exits 1 when a target is missed: >= 10,000 rows/s, < 1 GB, no avoidable
mid-sentence cut.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = HERE / "bench.yaml"
LIMIT = 500  # limits.transcript_chars in bench.yaml
MOST = 200  # what mapping passes as ``most`` at the default limits.max_moments (50)

# Words with no meaning together: only their lengths and the marks between them count.
_PROSE = (
    "our new plan saves your team hours every week and the reports build themselves from "
    "the data you already have in the tools you use today so nobody needs to copy numbers "
    "by hand again while managers see the whole pipeline at a glance with alerts when a deal "
    "stalls or a customer goes quiet for too long which means fewer surprises at the end of "
    "each quarter and more time spent talking to people who want to buy"
)
_WORDS = _PROSE.split()
_ACCENTED = ["café", "Chloé", "Müller", "García", "naïve", "déjà vu", "señor", "Zoë", "crème"]
_EMOJI = ["🚀", "👍", "👍🏽", "🎉", "👨\u200d👩\u200d👧", "✨", "📈", "❤️"]
_JAPANESE = [
    "新しいプランでチームの作業時間を毎週数時間短縮できます",
    "レポートはすでにお使いのツールのデータから自動で作成されます",
    "営業の流れを一目で確認でき",
    "商談が止まったときにはすぐに通知が届きます",
    "四半期末の驚きが減り",
    "お客様と話す時間がもっと増えます",
]
_CLAUSE = [", ", ", ", ", ", "; ", ": ", " — ", " – "]
_END = [".", ".", ".", ".", "!", "?"]


def _sentence(rng: random.Random, flavour: str) -> str:
    """A sentence of 60 to 120 characters (code points) in the row's flavour."""
    target = rng.randint(60, 120)
    if flavour == "japanese":
        text = ""
        while len(text) < target - 30:
            text += rng.choice(_JAPANESE) + rng.choice(["、", "、", "，", "："])
        return text + rng.choice(_JAPANESE) + rng.choice(["。", "。", "！", "？"])
    words: list[str] = []
    size = 0
    while size < target - 12:
        word = rng.choice(_WORDS)
        if flavour == "accents" and rng.random() < 0.15:
            word = rng.choice(_ACCENTED)
        elif flavour == "emoji" and rng.random() < 0.06:
            word = rng.choice(_EMOJI)
        if words and rng.random() < 0.08:
            words[-1] += rng.choice(_CLAUSE).rstrip()
        words.append(word)
        size += len(word) + 1
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(_END)


def script(rng: random.Random, low: int, high: int) -> str:
    """Whole sentences, between ``low`` and ``high`` characters in all."""
    flavour = rng.choices(["plain", "accents", "emoji", "japanese"], [65, 20, 10, 5])[0]
    target = rng.randint(low, high)
    text = _sentence(rng, flavour)
    while len(text) < target:
        sentence = _sentence(rng, flavour)
        joined = text + ("" if flavour == "japanese" else " ") + sentence
        if len(joined) > high:
            break
        text = joined
    return text


def rows(count: int, seed: int, long_share: float) -> Iterator[list[str]]:
    """Scripts of 200 to 1,500 characters, ``long_share`` of them over the limit (1: all drawn
    from the whole range)."""
    rng = random.Random(seed)
    people = [("avatar-emma", "voice-emma"), ("avatar-noah", "voice-noah")]
    for n in range(count):
        avatar, voice = rng.choice(people)
        if long_share >= 1:
            text = script(rng, 200, 1500)
        elif rng.random() < long_share:
            text = script(rng, LIMIT + 20, 1500)
        else:
            text = script(rng, 200, LIMIT - 20)
        yield [f"lead{n}@example.com", f"Lead {n}", avatar, voice, text]


def write_sheet(path: Path, count: int, seed: int, long_share: float) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["email", "name", "avatar", "voice", "script"])
        writer.writerows(rows(count, seed, long_share))
    return path


# --- the splitter under test -----------------------------------------------------------------


def use_splitter_from(revision: str) -> None:
    """Swap in ``pipeline/chunking.py`` as it was at ``revision``, wherever mapping calls it."""
    source = subprocess.run(
        ["git", "show", f"{revision}:pipeline/chunking.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    old = types.ModuleType("chunking_at_revision")
    exec(compile(source, f"{revision}:pipeline/chunking.py", "exec"), old.__dict__)
    import pipeline.chunking
    import pipeline.mapping.body

    for module in (pipeline.chunking, pipeline.mapping.body):
        module.split_transcript = old.split_transcript  # type: ignore[attr-defined]
        module.TooManyPieces = old.TooManyPieces  # type: ignore[attr-defined]


def splitter() -> Callable[..., list[str]]:
    import pipeline.chunking

    split: Callable[..., list[str]] = pipeline.chunking.split_transcript
    return split


# --- measuring, in a process of its own ------------------------------------------------------


def measure(sheet: Path) -> dict[str, Any]:
    from pipeline.argil.models import utf16_len
    from pipeline.config import load_config
    from pipeline.sheets import read_sheet
    from pipeline.validation import validate_rows

    started, cpu = time.perf_counter(), time.process_time()
    table = read_sheet(sheet)
    read = time.perf_counter() - started
    report = validate_rows(table, load_config(CONFIG))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB

    scripts = [row[4] for row in csv.reader(sheet.open(encoding="utf-8"))][1:]
    long = [text for text in scripts if utf16_len(text) > LIMIT]
    split = splitter()
    started = time.perf_counter()
    pieces = sum(len(split(text, LIMIT, most=MOST)) for text in long)
    alone = time.perf_counter() - started
    return {
        "rows": len(report.plans),
        "valid": report.valid,
        "moments": report.moments,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "read_seconds": read,
        "peak_mb": peak,
        "long_scripts": len(long),
        "long_pieces": pieces,
        "split_seconds": alone,
    }


# --- cuts inside sentences -------------------------------------------------------------------

_SENTENCE_MARKS = ".!?…。！？"
_CLOSERS = "\"')]”’»」』）"


def _ends_sentence(piece: str) -> bool:
    return piece.rstrip(_CLOSERS)[-1:] in tuple(_SENTENCE_MARKS)


def _sentence_ends(text: str) -> list[tuple[int, int]]:
    """(end, start of the next) of every sentence end a piece may stop at."""
    cuts = []
    for at, char in enumerate(text):
        if char in _SENTENCE_MARKS:
            end = at + 1
            while end < len(text) and text[end] in _CLOSERS:
                end += 1
            after = end
            while after < len(text) and text[after].isspace():
                after += 1
            if after < len(text) and (after > end or char in "。！？"):
                cuts.append((end, after))
    return cuts


def whole_sentence_count(text: str, limit: int) -> int | None:
    """The fewest pieces cut at sentence ends only (greedy), or None if a sentence is too long."""
    from pipeline.argil.models import utf16_len

    start, count = 0, 0
    cuts = _sentence_ends(text)
    while utf16_len(text[start:]) > limit:
        fitting = [(e, n) for e, n in cuts if e > start and utf16_len(text[start:e]) <= limit]
        if not fitting:
            return None
        start = fitting[-1][1]
        count += 1
    return count + 1


def avoidable_mid_sentence_cuts(scripts: list[str]) -> int:
    """Rows with a moment ending inside a sentence where whole sentences fit as many moments."""
    split = splitter()
    rows = 0
    for text in scripts:
        pieces = split(text, LIMIT)
        if len(pieces) > 1 and not all(_ends_sentence(p) for p in pieces):
            rows += whole_sentence_count(text, LIMIT) == len(pieces)
    return rows


def natural_cuts(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    scripts = [script(rng, 400, 900) for _ in range(120)]
    return {"sheet_rows": len(scripts), "mid_sentence": avoidable_mid_sentence_cuts(scripts)}


# --- the parent ------------------------------------------------------------------------------


def child(sheet: Path, revision: str | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(sheet)]
    if revision:
        cmd += ["--splitter-from", revision]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--long-share", type=float, default=1 / 3)
    parser.add_argument("--splitter-from", metavar="REV")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        if args.splitter_from:
            use_splitter_from(args.splitter_from)
        result = measure(args.child)
        result.update(natural_cuts(args.seed))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as work:
        sheet = write_sheet(Path(work) / "prepare.csv", args.rows, args.seed, args.long_share)
        result = child(sheet, args.splitter_from)
    speed = result["rows"] / result["seconds"]
    per_script = result["split_seconds"] / max(1, result["long_scripts"]) * 1e6
    which = f"chunking.py of {args.splitter_from}" if args.splitter_from else "the work tree"
    print(f"splitter: {which}")
    print(
        f"validate_rows on {result['rows']:,} rows (CSV read included): "
        f"{result['seconds']:.2f} s, {speed:,.0f} rows/s (reading {result['read_seconds']:.2f} s"
        f"; CPU {result['cpu_seconds']:.2f} s, {result['rows'] / result['cpu_seconds']:,.0f} "
        f"rows/s); peak memory {result['peak_mb']:,.0f} MB; {result['valid']:,} valid, "
        f"{result['moments']:,} moments"
    )
    print(
        f"split_transcript alone: {result['split_seconds']:.2f} s for the "
        f"{result['long_scripts']:,} scripts over {LIMIT} units ({per_script:.0f} µs each, "
        f"{result['long_pieces']:,} moments)"
    )
    print(
        f"natural cuts: {result['mid_sentence']} of {result['sheet_rows']} rows of 400-900 "
        "characters end a moment mid-sentence where whole sentences fit as many moments"
    )
    missed = speed < 10_000 or result["peak_mb"] >= 1024 or result["mid_sentence"] > 0
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
