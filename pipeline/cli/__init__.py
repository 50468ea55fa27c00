"""The command line: parses flags, calls the library, prints, and exits with the code of
what happened (each error kind's code is :mod:`pipeline.errors`').

``run`` and ``status`` (:mod:`~pipeline.cli.run`), ``validate`` and ``init``
(:mod:`~pipeline.cli.validate`), ``avatars``, ``voices`` and ``styles``
(:mod:`~pipeline.cli.catalogue`) and ``emulator`` (:mod:`~pipeline.cli.emulator`); what they
share is in :mod:`~pipeline.cli.common`, a run's last lines in :mod:`~pipeline.cli.summary`.
"""

from __future__ import annotations

import click

from pipeline import __version__

# The modules, not their commands, by these names: pipeline.cli.run stays the module.
from pipeline.cli import catalogue, emulator, run, validate
from pipeline.cli.common import Commands


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="argil-batch")
def main() -> None:
    """Turn spreadsheet rows into Argil avatar videos: exactly one video per row, at the
    API's full allowed rate, with the sheet handed back with a video id on every row."""


for command in (
    run.run,
    run.status,
    validate.validate,
    *catalogue.COMMANDS,
    validate.init,
    emulator.emulator,
):
    main.add_command(command)

__all__ = ["main"]
