"""The rate limits a server announces in its answers' headers (``pipeline.argil.limit_headers``):
read in each spelling, a reset read against now, and asks past the cap capped."""

from __future__ import annotations

import httpx
import pytest

from pipeline.argil.limit_headers import MAX_ASKED_WAIT, Announced, parse_announced


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {"RateLimit-Policy": '"writes";q=60;w=60', "RateLimit": '"writes";r=12;t=30'},
            Announced(60, 60.0, 12, 30.0),
        ),
        (  # two policies: the tighter one a minute, with its own budget
            {
                "RateLimit-Policy": '"burst";q=100;w=60, "day";q=1000;w=86400',
                "RateLimit": '"burst";r=50;t=5, "day";r=7;t=3000',
            },
            Announced(1000, 86400.0, 7, 3000.0),
        ),
        ({"RateLimit": "limit=60, remaining=0, reset=12"}, Announced(60, None, 0, 12.0)),
        (
            {"RateLimit-Limit": "100", "RateLimit-Remaining": "3", "RateLimit-Reset": "9"},
            Announced(100, None, 3, 9.0),
        ),
        (
            {
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "4",
                "X-RateLimit-Reset": "1060",
            },
            Announced(5000, None, 4, 1060.0),
        ),
        (
            {"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "2000000060"},
            Announced(None, None, 4, 60.0),
        ),
        ({"RateLimit-Policy": "garbage;q=x", "X-RateLimit-Remaining": "-3"}, Announced()),
    ],
)
def test_announced_limits_are_read_in_each_spelling(
    headers: dict[str, str], expected: Announced
) -> None:
    assert parse_announced(httpx.Headers(headers), now=2_000_000_000) == expected


NOW = 1_800_000_000.0  # a Unix time


@pytest.mark.parametrize(
    ("headers", "reset", "over"),
    [
        # Epoch milliseconds: 30 s from now, not 1.8 trillion seconds.
        (
            {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW * 1000) + 30_000)},
            30,
            None,
        ),
        # Epoch seconds, as GitHub sends them.
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 45)}, 45, None),
        # A number with its exponent is read whole, not as its prefix "1": here a Unix time in
        # milliseconds, long past.
        ({"RateLimit": '"w";r=0;t=1e12'}, 0, None),
        # Far past the cap: capped, and said.
        ({"RateLimit": f'"w";r=0;t={int(NOW) + 10**9}'}, 120, ("RateLimit", 10.0**9)),
        # Something left: a reset past the cap asks for no wait, so it is not an ask past it.
        ({"RateLimit-Remaining": "5", "RateLimit-Reset": "86400"}, 120, None),
    ],
)
def test_a_reset_is_read_against_now_and_capped(
    headers: dict[str, str], reset: float, over: tuple[str, float] | None
) -> None:
    announced = parse_announced(httpx.Headers(headers), now=NOW, cap=MAX_ASKED_WAIT)
    assert announced.reset == pytest.approx(reset)
    assert announced.over_cap == (pytest.approx(over) if over else None)


def test_a_policy_window_past_the_cap_keeps_its_pace_over_a_window_of_the_cap() -> None:
    hourly = parse_announced(httpx.Headers({"RateLimit-Policy": '"h";q=600;w=3600'}), cap=120)
    assert (hourly.quota, hourly.window, hourly.over_cap) == (20, 120, None)
    assert hourly.rpm == pytest.approx(10)
    crawl = parse_announced(httpx.Headers({"RateLimit-Policy": '"c";q=1;w=1e9'}), cap=120)
    assert (crawl.quota, crawl.window) == (1, 120)
    assert crawl.over_cap == ("RateLimit-Policy", 1e9)
    # Without a cap, as announced (what the gate's tests read).
    raw = parse_announced(httpx.Headers({"RateLimit-Policy": '"c";q=1;w=1e9'}))
    assert (raw.quota, raw.window, raw.over_cap) == (1, 1e9, None)
