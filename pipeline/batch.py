"""The batch tag: one ``extras`` pair shared by every video of one batch (a campaign over one
sheet), so that the API itself can say which videos a batch already has.

A state file can be lost, moved or left on another machine; the tag cannot. It is derived
only from what names the campaign, never from where files are: ``input.namespace`` when the
config sets one, otherwise the sheet's file name (without folder or extension), the workbook's
sheet, the config's file name and the key columns. Two campaigns over one sheet (two configs)
get two tags; the same campaign run from another folder, with another ``-o`` or ``--state``,
or on another machine gets the same one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

BATCH_TAG_EXTRA = "argilBatch"
"""The extras key that carries the batch tag; reserved, so a config cannot set it."""

TAG_PREFIX = "b-"
_TAG_HEX = 24


def batch_tag(
    *,
    namespace: str,
    sheet_path: Path | str | None,
    sheet_name: str | None,
    config_path: Path | str | None,
    key_columns: list[str],
) -> str:
    """The tag of the batch these names describe (see the module's docstring)."""
    if namespace.strip():
        # Set on purpose, and readable in Argil's own screens: used as it is.
        return namespace.strip()
    material = json.dumps(
        [
            _file_stem(sheet_path),
            sheet_name or "",
            _file_stem(config_path),
            [column.strip() for column in key_columns],
        ],
        ensure_ascii=False,
    )
    return TAG_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:_TAG_HEX]


def _file_stem(path: Path | str | None) -> str:
    # Case-folded: the same file typed in another case on a case-insensitive disk, or
    # exported as .xlsx instead of .csv, is still the same campaign.
    return "" if path is None else Path(path).stem.casefold()
