"""The batch tag: one ``extras`` pair shared by every video of one batch (a campaign over one
sheet), so that the API itself can say which videos a batch already has.

A state file can be lost, moved or left on another machine; the tag cannot. It is derived
only from what names the campaign, never from where files are nor from the sheet's file name
(a CRM names each night's export by its date: the same campaign every night):
``input.namespace`` when the config sets one, otherwise the config's file name (without
folder or extension), the workbook's sheet (a Google Sheet's spreadsheet id and tab gid, which
a renamed sheet or tab keeps) and the key columns. Two campaigns over one
sheet (two configs) get two tags; the same campaign run from another folder, with another
``-o`` or ``--state``, over a renamed export, or on another machine gets the same one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipeline.argil.models import Video

BATCH_TAG_EXTRA = "argilBatch"
"""The extras key that carries the batch tag; reserved, so a config cannot set it."""
BATCH_KEY_EXTRA = "argilBatchKey"
"""The extras key that carries a row's key (and generation); reserved likewise."""

TAG_PREFIX = "b-"
_TAG_HEX = 24


def batch_tag(
    *,
    namespace: str,
    batch: str = "",
    sheet_name: str | None,
    config_path: Path | str | None,
    key_columns: list[str],
    google: tuple[str, int] | None = None,
) -> str:
    """The tag of the batch these names describe (see the module's docstring); ``google``:
    the (spreadsheet id, gid) of a Google Sheet's tab, which names it instead of
    ``sheet_name``."""
    for named in (batch, namespace):
        if named.strip():
            # Set on purpose, and readable in Argil's own screens: used as it is.
            return named.strip()
    where: object = sheet_name or ""
    if google is not None:
        where = ["google-sheet", google[0], google[1]]
    material = json.dumps(
        [
            where,
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


def carried_key(video: Video) -> str | None:
    """The ``argilBatchKey`` a video carries (its row's key and generation), as the API
    answered it: the only proof of which row a video belongs to."""
    value = (video.extras or {}).get(BATCH_KEY_EXTRA)
    return value if isinstance(value, str) and value else None
