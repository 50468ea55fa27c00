"""A draft's render price, read from ``GET /videos/{id}/estimate`` leniently.

Argil's docs say the route "returns the credit cost of a render started right now, without
debiting or starting one", and name one field of its answer, ``newBalance`` (which may be
negative). So the price is read as the current balance minus ``newBalance`` when the answer
has both, else as the one numeric field that is not a balance; an answer that gives neither
gives no price (the caller falls back to the local estimate and says so)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# The fields that hold the balance as it is now, as an answer might name it.
_BALANCES = ("balance", "currentBalance", "creditBalance", "credits_balance", "oldBalance")


@dataclass(frozen=True)
class RenderPrice:
    credits: float | None
    """What rendering the video now would cost; None when the answer said no price."""
    new_balance: float | None = None
    """The balance the render would leave, when the answer said it."""


def read_price(answer: Any) -> RenderPrice:
    if not isinstance(answer, dict):
        return RenderPrice(None)
    numbers = {
        str(name): float(value)
        for name, value in answer.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }
    new_balance = numbers.pop("newBalance", None)
    current = next((numbers[name] for name in _BALANCES if name in numbers), None)
    if current is not None and new_balance is not None:
        return RenderPrice(round(current - new_balance, 6), new_balance)
    others = [value for name, value in numbers.items() if "balance" not in name.casefold()]
    if len(others) == 1 and others[0] >= 0:
        return RenderPrice(others[0], new_balance)
    return RenderPrice(None, new_balance)
