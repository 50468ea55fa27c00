"""What every command shares: one-line errors with their exit codes (each error kind's, from
:mod:`pipeline.errors`), notes on standard error, paths as shown, logging, and the options
several commands take."""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from pipeline.config import DEFAULT_READ_RPM
from pipeline.errors import EXIT_INTERRUPTED, EXIT_USAGE, ArgilBatchError
from pipeline.settings import WAIT_TIMEOUT


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    if json_wanted():
        # A cron job's JSON log gets one line for every night, a refused one included.
        click.echo(json.dumps({"exit_code": code, "error": message}, sort_keys=True))
    sys.exit(code)


def json_wanted() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().meta.get(JSON_META))


def _note_json(ctx: click.Context, _: click.Parameter, value: bool) -> bool:
    # Eager: known before any other option is checked, so that its refusal prints JSON too.
    ctx.find_root().meta[JSON_META] = value
    return value


class Commands(click.Group):
    """The command group; a usage error click finds itself (an unknown option, a bad value)
    still prints one JSON object when --json was asked for."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if ctx.meta.get(JSON_META) or "--json" in sys.argv[1:]:
                exc.show()
                click.echo(json.dumps({"exit_code": exc.exit_code, "error": exc.format_message()}))
                sys.exit(exc.exit_code)
            raise


def note(message: str) -> None:
    click.echo(message, err=True)


def shown(path: Path | str) -> str:
    """A path as every command prints it: relative to the current folder when inside it,
    else absolute (``status`` knows the run's files by their absolute paths, ``run`` by what
    was typed: the same file must read the same in both). A URL as it is."""
    if isinstance(path, str):
        return path
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


@contextmanager
def user_errors() -> Iterator[None]:
    """Library exceptions become one line ``Error: ...`` and their exit code."""
    try:
        yield
    except ArgilBatchError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted; run again to pick up where this run stopped", EXIT_INTERRUPTED)


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs request lines at INFO; ours say the same with fewer words.
    for noisy in ("httpx", "httpcore", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


# Paths are checked by the library, which says what to do in one line; click's own checks
# would print a usage block instead.
# A file or a Google Sheet's URL: told apart (and a bad URL refused in one line) by the
# library's sheet_source.
sheet_argument = click.argument("sheet")
download_option = click.option(
    "--download",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Save each finished video's MP4 in DIR (resumed when cut, never fetched twice).",
)
config_option = click.option(
    "-c",
    "--config",
    "config",
    required=True,
    type=click.Path(path_type=Path),
    help="YAML column config: how a row becomes a video.",
)
sheet_name_option = click.option("--sheet", "sheet_name", help="XLSX/ODS sheet (default: first).")
wait_timeout_option = click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=WAIT_TIMEOUT,
    show_default=True,
    help="Seconds --wait waits at most.",
)
no_progress_option = click.option(
    "--no-progress", is_flag=True, help="No progress bar or progress lines."
)
JSON_META = "argil_batch.json"
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    is_eager=True,
    callback=_note_json,
    help="Print the summary as one JSON object (on every exit, a refusal included).",
)
verbose_option = click.option("-v", "--verbose", count=True, help="More log lines (-vv for debug).")


class RpmType(click.ParamType):
    """A number of requests a minute (at least 0.1), or ``auto``."""

    name = "N|auto"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | str:
        if isinstance(value, float):
            return value
        if str(value).strip().lower() == "auto":
            return "auto"
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor auto", param, ctx)
        if not (number >= 0.1 and math.isfinite(number)):
            self.fail(f"{value!r} must be at least 0.1 (or auto)", param, ctx)
        return number


read_rpm_option = click.option(
    "--read-rpm",
    type=click.FloatRange(min=0.1),
    help="Reads (status, listings) per minute allowed, apart from --rpm "
    f"[config: {DEFAULT_READ_RPM:g}].",
)
encoding_option = click.option(
    "--encoding", help="CSV text encoding (default: UTF-8, else cp1252 with a note)."
)
