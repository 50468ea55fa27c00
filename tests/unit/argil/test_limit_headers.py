"""The rate limits a server announces in its answers' headers (``pipeline.argil.limit_headers``):
read in each spelling, a reset read against now, and asks past the cap capped."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pipeline.argil.limit_headers import (
    MAX_ASKED_WAIT,
    Announced,
    parse_announced,
    read_retry_after,
)


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


# --- Retry-After as an HTTP date ----------------------------------------------------------


def _dated(retry_after: datetime, date: datetime) -> httpx.Response:
    return httpx.Response(
        429,
        headers={
            "Retry-After": email.utils.format_datetime(retry_after, True),
            "Date": email.utils.format_datetime(date, True),
        },
    )


def test_a_date_is_read_against_the_local_clock_when_the_server_date_agrees() -> None:
    # 0.3 s of wait asked at 12:00:00.8: the server rounds its date up to 12:00:02 and its
    # Date down to 12:00:00. Against Date alone that reads 2 s, an overloaded window to the
    # gate; the local clock, a second off at most, says 1.2 s.
    local = datetime(2030, 1, 1, 12, 0, 0, 800_000, tzinfo=UTC)
    response = _dated(datetime(2030, 1, 1, 12, 0, 2, tzinfo=UTC), local.replace(microsecond=0))
    assert read_retry_after(response, now=local) == (pytest.approx(1.2), "Retry-After")


def test_a_date_is_read_against_the_server_date_when_the_local_clock_is_skewed() -> None:
    server = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    response = _dated(server + timedelta(seconds=30), server)
    for skew in (-3600.0, -4.0, 4.0, 86400.0):
        local = server + timedelta(seconds=skew)
        assert read_retry_after(response, now=local) == (30.0, "Retry-After")


def test_a_date_in_the_past_asks_for_no_wait_and_a_bad_date_for_nothing() -> None:
    local = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    past = _dated(local - timedelta(seconds=5), local)
    assert read_retry_after(past, now=local) == (0.0, "Retry-After")
    garbled = httpx.Response(429, headers={"Retry-After": "tomorrow-ish"})
    assert read_retry_after(garbled, now=local) is None
    # A date without a zone is read as UTC, as HTTP dates are.
    naive = httpx.Response(429, headers={"Retry-After": "Tue, 01 Jan 2030 12:00:09"})
    assert read_retry_after(naive, now=local) == (9.0, "Retry-After")
