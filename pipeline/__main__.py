"""The console script's entry: ``argil-batch`` and ``python -m pipeline``."""

import sys


def main() -> None:
    # Importing the command line takes a noticeable moment (pandas, pydantic): a Ctrl-C then
    # must end as every other interrupt does, with 130 and no traceback.
    try:
        from pipeline.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted before the run started: nothing was sent.\n")
        sys.exit(130)
    cli()


if __name__ == "__main__":
    main()
