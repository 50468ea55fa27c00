"""The console script's entry: ``argil-batch`` and ``python -m pipeline``."""

import logging
import os
import signal
import sys

# Small and without imports of its own: loaded before anything a Ctrl-C could interrupt.
from pipeline.errors import EXIT_INTERRUPTED


def main() -> None:
    # Importing the command line takes a noticeable moment (pandas, pydantic): a Ctrl-C then
    # must end as every other interrupt does, with 130 and no traceback.
    try:
        from pipeline.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted before the run started: nothing was sent.\n")
        sys.stderr.flush()
        # Not sys.exit: an interrupt that passed through an extension's module setup can leave
        # CPython's "unhandled KeyboardInterrupt" flag set, and the interpreter would then end
        # by the signal (-2) despite the handler. Nothing is open yet, so nothing is lost.
        os._exit(EXIT_INTERRUPTED)
    try:
        cli()
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            _ignore_signals()
            # The interrupt may have passed through an extension's code on its way to the
            # handler that said so (an import done late, a C call): CPython then ends the
            # process by the signal (-2) whatever the code chosen. Everything is closed and
            # written by now; what is left to flush is flushed here.
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        raise
    finally:
        _ignore_signals()


def _ignore_signals() -> None:
    # The command is over and has said so: a late Ctrl-C while the interpreter shuts down
    # would end the process by the signal instead of with the exit code already chosen.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


if __name__ == "__main__":
    main()
