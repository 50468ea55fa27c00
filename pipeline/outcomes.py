"""The words a row's ``argil_status`` holds when it is not an API video status."""

from __future__ import annotations

from pipeline.argil.models import FAILED_STATUSES

INVALID = "INVALID"
SKIPPED = "SKIPPED"
FAILED = "FAILED"
CHANGED = "CHANGED"
PENDING = "PENDING"
IN_DOUBT = "IN_DOUBT"
NOT_RUN = "NOT_RUN"
WOULD_SEND = "WOULD_SEND"
# A row refused by the API and a video that ended FAILED share the word: count it once.
FAILED_OUTCOMES = frozenset({FAILED, *FAILED_STATUSES})
# The payload hash kept for a video adopted from the API whose row has changed since.
CHANGED_ON_API = "changed-on-the-api"
