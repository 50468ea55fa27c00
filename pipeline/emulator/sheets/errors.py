"""The fake Google Sheets' errors: an API answer in Google's error shape, and a refused token
grant. Both are :class:`~pipeline.emulator.settings.EmulatorError`."""

from __future__ import annotations

from typing import Any

from pipeline.emulator.settings import EmulatorError


class SheetsError(EmulatorError):
    """An answer in Google's error shape: ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, message: str, status: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class TokenError(EmulatorError):
    """A refused ``POST /token``: ``{"error", "error_description"}`` with a 400."""

    def __init__(self, description: str, error: str = "invalid_grant") -> None:
        super().__init__(description)
        self.error, self.description = error, description


def invalid(message: str) -> SheetsError:
    """A 400 ``INVALID_ARGUMENT`` answer."""
    return SheetsError(400, message)
