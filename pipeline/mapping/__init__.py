"""One spreadsheet row + the config -> one ``POST /videos`` body (or the row's errors).

Templates are compiled once per sheet by :class:`Mapper`; ``map_row`` renders them against a
row's cells and builds the body: blank optional fields are left out, numbers and booleans are
converted, long transcripts are split into several moments, the row key goes into
``extras.argilBatchKey``, and the result is checked with the API models
(:class:`~pipeline.argil.models.VideoCreateArgs`), whose errors become :class:`FieldError`\\ s
located by their wire path (``moments[1].zoom.keyframes[0].scale``; a moment's index is its
place in the config, shared by the parts of a split moment). A row never raises: every problem
of a row is in its :class:`RowPlan`.

A moment whose ``when`` renders blank (or false, no, 0, off, none: what a condition such as
``{{ market == "US" }}`` renders) is left out.

Columns are reachable in templates as ``{{ row["First Name"] }}`` and by their snake_case form
``{{ first_name }}`` (lowercase, runs of other characters -> ``_``, stripped). When two headers
share a snake_case form, that name is not defined and only ``row["..."]`` reaches them. A
header that is already a valid name (``Email``) is reachable as written, too. ``row`` itself is
reserved.

The package is split by concern: ``mapper`` (the :class:`Mapper`: the config compiled against
the sheet's headers, the row key, ``map_row``), ``body`` (building a row's body from the
compiled parts), ``compiled`` (leaves and the per-row reading of them), ``columns`` (headers'
names in templates) and ``plan`` (:class:`RowPlan`, :class:`FieldError`, wire paths, the
canonical JSON). Everything the rest of the code uses is importable from here.

Exceptions: ``map_row`` raises none; :class:`Mapper` raises
:class:`~pipeline.config.ConfigError` when the config names columns the sheet lacks.
"""

from pipeline.mapping.columns import snake_case
from pipeline.mapping.mapper import KEY_PREFIX, Mapper
from pipeline.mapping.plan import INVALID, SKIPPED, VALID, FieldError, RowPlan, canonical_json

__all__ = [
    "INVALID",
    "KEY_PREFIX",
    "SKIPPED",
    "VALID",
    "FieldError",
    "Mapper",
    "RowPlan",
    "canonical_json",
    "snake_case",
]
