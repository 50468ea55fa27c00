"""The render price read leniently from ``GET /videos/{id}/estimate``: the docs name only
``newBalance``, so every shape an answer may take is read, or said unreadable."""

from __future__ import annotations

import pytest

from pipeline.argil.price import RenderPrice, read_price


@pytest.mark.parametrize(
    ("answer", "price"),
    [
        ({"balance": 1000, "newBalance": 962.5}, RenderPrice(37.5, 962.5)),
        ({"currentBalance": 10, "newBalance": -27}, RenderPrice(37.0, -27.0)),  # may be negative
        ({"totalCredits": 37.5, "newBalance": 962.5}, RenderPrice(37.5, 962.5)),
        ({"credits": 12}, RenderPrice(12.0)),
        ({"cost": 12, "currency": "credits", "newBalance": 5}, RenderPrice(12.0, 5.0)),
        ({"newBalance": 5}, RenderPrice(None, 5.0)),  # no price to read
        ({"a": 1, "b": 2}, RenderPrice(None)),  # which one? none guessed
        ({"credits": True}, RenderPrice(None)),
        ({"credits": -3}, RenderPrice(None)),
        ([], RenderPrice(None)),
        ("37", RenderPrice(None)),
    ],
)
def test_an_answer_is_read_as_a_price_or_as_none(answer: object, price: RenderPrice) -> None:
    assert read_price(answer) == price
