"""Command line of argil-batch (being written)."""

import click


@click.group()
def main() -> None:
    """Turn spreadsheet rows into Argil avatar videos."""
