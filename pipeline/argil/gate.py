"""The rate gate every request of the API client goes through: a pace, a concurrency cap, a
pause that a 429 imposes on every worker, and a rate that adapts to what the server says.

Requests leave one at a time, evenly spaced at ``current_rpm``: a burst would meet a server's
sliding window as 429s. The spacing is a few lines here rather than aiolimiter, which cannot
change a limiter's rate in place: swapping in a new limiter let the workers waiting on the old
one and the first on the new one leave together.

Which rate:

- **The limit** is the lowest of the user's ``rpm`` (a cap), the limit the server announces
  (``RateLimit-Policy``, see ``limit_headers.py``) and, after 429s, the limit the gate
  estimated from them. With ``auto`` there is no cap: the gate starts at ``start_rpm`` (60 a
  minute, the write limit Argil documents), doubles its rate on every answer until the first
  429, and takes its estimate from there.
- **Headroom for jitter.** The network delays each request by a varying time before the server
  counts it, so evenly spaced requests arrive bunched: arrivals jittered over L seconds always
  fit a window of W seconds at W/(W+L) of the limit, and, as independent delays seldom bunch
  that much, a window of many requests fits more (see ``jitter_share``). The gate measures L
  as the spread of its answers' round trips and of its own late turns, and takes W from the
  announced policy, or else assumes a window of ``window_requests`` requests (60: a minute at
  Argil's 60 a minute).
- **Room in the window.** Besides the even spacing, a request waits until the requests sent
  over the last window (less those refused) leave room for it: after a burst (``auto`` finding
  the limit, a cap far too high) a sliding window frees room only as the burst leaves it. The
  policy learnt from the first answer also applies to the few sent before it.
- **The budget left.** When an answer announces how many requests are left but no policy, and
  those already sent since would use it up, nothing leaves until the quota frees up.
- **A 429** pauses every worker for its ``Retry-After`` (the limit is per key, not per
  connection). A lone 429 then costs a small ``step`` off the rate; 429s that follow within
  ``repeat_within`` seconds double the step each time. A 429 whose ``Retry-After`` is long
  (``overload_after`` seconds or more: the window stays full, not one request too many) also
  gives an estimate of the limit: the answers accepted over the last stretch divided by that
  stretch plus the wait, and the rate drops to it. 429s to requests sent before the last change
  belong to the same burst and count once.
- **Climbing back**: after a quiet stretch (``increase_after`` answers and ``increase_every``
  seconds without a 429) the rate climbs by ``increase`` (a fraction), or half-way back when
  far below, never past the limit's headroom and never past a step under the rate last
  refused (a step above the estimate with ``auto``, which probes so), until that is forgotten
  (``forget_after`` seconds without a 429), so that a limit that was raised is found again.
  A *lone* 429 at a set limit (no other within ``repeat_within`` before it, no estimate from
  it, none lone either over the last ``forget_after``) is forgotten after a quiet window, or
  ``forget_lone_after`` seconds if longer: a burst of someone else's requests says nothing of
  the limit, and five minutes a step under it cost a whole re-run 8% of its rate. Not sooner:
  climbing back is a probe that costs a pause and a step when the 429 was the gate's own
  (jittered arrivals bunching in a window shorter than the one assumed), and once a minute
  keeps that to a few percent. A second lone 429 within ``forget_after`` confirms the first,
  and is remembered as long as repeated ones.
- **The last run's requests** (``prior_sends``: a re-run right after a stop, whose requests
  the server's window still counts) take their place in the window as if this gate had sent
  them, and the first request leaves one interval after the last of them. A 429 that comes
  while the window still holds them costs its pause, not a step: it says that they filled
  the window, not that this gate's pace is too fast.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from pipeline.argil.limit_headers import MAX_ASKED_WAIT, Announced
from pipeline.errors import ArgilBatchError

__all__ = ["PRIOR_SPAN", "Clock", "RateGate", "Sleep", "jitter_share"]

logger = logging.getLogger("pipeline.argil.gate")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

MAX_RPM = 600_000.0  # what ``auto`` may reach before a 429 says otherwise
MAX_STEP = 0.3  # the deepest cut of repeated 429s, as TCP's
_RTT_SAMPLES = 200
# How many standard deviations of a window's count the pace keeps free (see jitter_share). In
# simulated runs of 300 to 1,500 requests with uniform delays, for windows of 10 to 300
# requests and jitter from 0.1 s to twice the window, 3.75 met one 429 in at most 1% of them
# (none in 3,000 runs of 60 requests in 6 s at 1 s of jitter), 4 in none, 3.5 in up to 5%, 3
# in up to 20%. A 429 costs its Retry-After and a step; 4 instead of 3.75 would cost 0.7% of
# every run at 1 s of jitter.
JITTER_SIGMAS = 3.75
# The worst case (see jitter_share) takes the delays to spread over 1.5 times the jitter
# measured. At exactly W / (W + L) a window meets a request too many as soon as L is measured a
# few ms short: 200 round trips put the 10th-to-90th-percentile estimate 7% under L, and half
# of simulated runs then met a 429 (so did the 60-request-window benchmark, at 0.984 of the
# limit); delays spread normally rather than evenly reach further than that estimate, too.
# At 1.5 no uniform run met one and 8% of normal ones did.
WORST_SPREAD = 1.5
CAPPED_WARNING = 10  # requests held back by the concurrency before saying so
# Seconds back that an earlier run's requests may still count: the longest window the gate
# assumes, ``window_requests`` (60) at the floor of one a minute.
PRIOR_SPAN = 3600.0


def jitter_share(limit_rpm: float, window: float, jitter: float) -> float:
    """The share of a limit of ``limit_rpm`` counted in windows of ``window`` seconds that an
    even pace fits without a 429 when the network delays each request by up to ``jitter``
    seconds more than another: the larger of two bounds on what one window meets.

    - **Every request late on one edge of the window and early on the other**: a pace r puts
      at most r (W + L) requests in a window, so W / (W + L) of the limit always fits, with L
      taken ``WORST_SPREAD`` times the jitter measured. This bound counts when a window holds
      few requests (10 in 1 s at 0.1 s of jitter: 0.87 against 0.72).
    - **Independent delays** seldom bunch that much: the count of a window varies around its
      mean r W by sigma = sqrt(r L / 3) (each edge adds r L / 6 for a uniform spread), and a
      pace that keeps ``JITTER_SIGMAS`` of them free under the quota meets no 429 in a long
      run. This bound counts when a window holds many requests and the jitter is long: 60 in
      6 s at 1 s of jitter fit at 0.877, not 0.857.
    """
    quota = limit_rpm / 60.0 * window
    worst = window / (window + WORST_SPREAD * jitter)
    if quota <= 1:
        return worst  # nothing to keep free under a quota of one
    # h Q + z sqrt(h R L / 3) = Q - 1 (R the limit a second), a quadratic in sqrt(h).
    b = JITTER_SIGMAS * math.sqrt(limit_rpm / 60.0 * jitter / 3.0)
    root = (-b + math.sqrt(b * b + 4 * quota * (quota - 1))) / (2 * quota)
    return max(worst, root * root)


def _spread(samples: collections.deque[float]) -> float:
    """The spread of ``samples`` from the 10th to the 90th percentile (one held up by something
    else, a pause, a busy machine, does not count), as wide as a uniform spread has it."""
    n = len(samples)
    if n < 5:
        return 0.0
    ordered = sorted(samples)
    if n < 20:
        # Too few for percentiles: the range, widened as a small sample's range falls short.
        return (ordered[-1] - ordered[0]) * (n + 1) / (n - 1)
    low, high = ordered[round(0.1 * (n - 1))], ordered[round(0.9 * (n - 1))]
    return (high - low) / 0.8


class GateClosed(ArgilBatchError):
    """The gate was closed (the run is stopping): this request was not sent."""


class RateGate:
    """One gate shared by every worker (see the module's docstring for how the rate is set)."""

    def __init__(
        self,
        rpm: float | None,
        concurrency: int,
        *,
        name: str = "writes",
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        start_rpm: float = 60.0,
        min_rpm: float = 1.0,
        step: float = 0.08,
        repeat_within: float = 10.0,
        overload_after: float = 2.0,
        increase: float = 0.02,
        increase_after: int = 20,
        increase_every: float = 5.0,
        forget_after: float = 300.0,
        forget_lone_after: float = 60.0,
        window_requests: int = 60,
        max_headroom: float = 0.99,
        max_wait: float = MAX_ASKED_WAIT,
        prior_sends: Sequence[float] = (),
        burst: int = 0,
    ) -> None:
        """``rpm`` None: ``auto``, find the limit. ``max_wait``: the longest a pause or an
        announced window may last, whatever the server says. ``prior_sends``: when another
        process (the last run) sent requests the server may still count, on ``clock``.
        ``burst``: the first this many requests leave together, unspaced (a run's first reads,
        independent of one another: one round trip, not one interval each); a window of
        ``window_requests`` has room for them, so at most half of that is taken."""
        if rpm is not None and not (rpm > 0 and math.isfinite(rpm)):
            raise ValueError("rpm must be a positive number")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 0 < step < 0.5:
            raise ValueError("step must be in (0, 0.5)")
        self.name = name
        self.rpm = rpm
        self.auto = rpm is None
        self.concurrency = concurrency
        self.min_rpm = min_rpm
        self.step = step
        self.repeat_within = repeat_within
        self.overload_after = overload_after
        self.increase = increase
        self.increase_after = increase_after
        self.increase_every = increase_every
        self.forget_after = forget_after
        self.forget_lone_after = forget_lone_after
        self.window_requests = window_requests
        self.max_headroom = max_headroom
        self.max_wait = max_wait
        self._burst = min(max(0, burst), window_requests // 2)
        self._clock = clock
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(concurrency)
        self._slot = asyncio.Lock()
        # Set by close(): requests waiting for their turn leave without being sent.
        self._closing = asyncio.Event()
        self._last_slot = -math.inf  # event-loop time the last request left
        self._paused_until = -math.inf
        self.sent = 0  # requests that left the gate
        self._capped = 0  # requests held back by the concurrency cap, not the pace
        self._in_flight = 0  # sent, not yet answered
        self._first_slot: float | None = None  # event-loop time the first request left
        # (event-loop time, sequence number) of the requests sent over the last window, less
        # those refused: what the server counts. The last run's have number 0.
        self._sends: collections.deque[tuple[float, int]] = collections.deque()
        now = clock()
        self._last_change = self._quiet_since = now
        self._quiet_answers = 0
        self._last_429 = -math.inf
        self._strikes = 0
        self._announced: Announced | None = None
        self._estimate: float | None = None  # rpm: the limit as 429s showed it
        self._held: float | None = None  # rpm: the highest rate that went without a 429
        self._refused: float | None = None  # rpm: a step under the rate last refused
        self._forget_at = -math.inf  # clock time: when the refused rate is forgotten
        self._lone_at = -math.inf  # clock time of the last lone 429 (see the module's docstring)
        # The last run's sends, on ``clock``: seeded into the window (on the event loop's clock)
        # at the first turn, when that clock is known.
        self._prior = sorted(prior_sends)
        self._prior_seeded = not self._prior
        self._ramping = self.auto
        self._rtts: collections.deque[float] = collections.deque(maxlen=_RTT_SAMPLES)
        # Seconds each request left after its turn was due (a busy loop's timers run late).
        self._lateness: collections.deque[float] = collections.deque(maxlen=_RTT_SAMPLES)
        self._accepted: collections.deque[float] = collections.deque()  # clock times
        # The adaptive rate, before the limit's headroom is applied.
        self._rate = float(start_rpm) if self.auto else math.inf
        self.current_rpm = self._compute()

    # --- what the rate is -------------------------------------------------------------------

    @property
    def limit_rpm(self) -> float | None:
        """The limit as the gate knows it: the lowest of cap, announced and estimated."""
        known = [r for r in (self.rpm, self.announced_rpm, self._estimate) if r is not None]
        return min(known) if known else None

    @property
    def announced_rpm(self) -> float | None:
        return self._announced.rpm if self._announced is not None else None

    @property
    def limit_met(self) -> bool:
        """With ``auto``: a limit was met (a 429 showed it, or the server announced it); else
        ``found_rpm`` is only the rate that went through, a floor of the limit."""
        return self._estimate is not None or self.announced_rpm is not None

    @property
    def found_rpm(self) -> float | None:
        """With ``auto``: the limit found (the estimate from 429s, else the announced limit,
        else the highest rate that held or the rate that went through: lower bounds); None
        otherwise."""
        if not self.auto:
            return None
        found = self._estimate or self.announced_rpm or self._held
        if found is None and len(self._accepted) > 1:
            # No 429 yet: what went through is a lower bound.
            span = self._accepted[-1] - self._accepted[0]
            found = (len(self._accepted) - 1) * 60.0 / span if span > 0 else None
        return found

    @property
    def jitter(self) -> float:
        """Seconds over which requests spread on their way: the spread of the round trips
        measured, and that of the gate's own lateness (a send a few ms late, the next on time,
        arrive that much closer; round trips, timed from the send, do not see it)."""
        return _spread(self._rtts) + _spread(self._lateness)

    def window(self, limit_rpm: float) -> float:
        """Seconds of the server's window: announced (at most ``max_wait``: a window of a
        billion seconds would hold every request back that long), or else ``window_requests``
        at the limit."""
        if self._announced is not None and self._announced.window:
            return min(self._announced.window, self.max_wait)
        return self.window_requests * 60.0 / limit_rpm

    def headroom(self, limit_rpm: float) -> float:
        """The share of the limit the pace keeps to: :func:`jitter_share` of the window and the
        jitter measured."""
        share = jitter_share(limit_rpm, self.window(limit_rpm), self.jitter)
        # A little headroom even without jitter: the gate's own timing is not exact either.
        return min(self.max_headroom, share)

    def _compute(self) -> float:
        limit = self.limit_rpm
        rate = self._rate
        if limit is not None:
            rate = min(rate, limit * self.headroom(limit))
        return max(self.min_rpm, min(rate, MAX_RPM))

    def _update(self, now: float, *, decided: bool = False) -> None:
        """Recompute the pace. ``decided``: a step of the adaptive rate, which 429s to requests
        sent before it must not repeat (a new estimate of the jitter is no such step)."""
        rpm = self._compute()
        if decided:
            self._last_change = now
            if abs(rpm - self.current_rpm) > 0.001 * rpm:
                how = "lowered" if rpm < self.current_rpm else "raised"
                logger.info(
                    "%s rate %s from %.1f to %.1f rpm", self.name, how, self.current_rpm, rpm
                )
        self.current_rpm = rpm

    # --- what the server said ---------------------------------------------------------------

    @property
    def paused_for(self) -> float:
        """Seconds left in the current global pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def pause(self, seconds: float) -> None:
        """Every worker waits until now + seconds (at most ``max_wait``); an earlier pause end
        is extended, never cut."""
        if not seconds > 0:
            return
        seconds = min(seconds, self.max_wait)
        until = self._clock() + seconds
        if until > self._paused_until:
            self._paused_until = until
            logger.debug("%s gate paused for %.2f s", self.name, seconds)

    def on_answer(
        self, *, sent_at: float, seq: int | None = None, announced: Announced | None = None
    ) -> float:
        """Any answer (a 429 too): its round trip, and the limit it announced, if any. Returns
        the pause the announced budget imposed on every worker (0 when none), for the caller
        to say why a run waits."""
        now = self._clock()
        paused = 0.0
        self._rtts.append(max(0.0, now - sent_at))
        if announced is not None and not announced.empty:
            if announced.quota is not None:
                first = self._announced is None
                self._announced = announced
                if first:
                    self._pay_back()
            if (
                self._announced is None
                and announced.remaining is not None
                and announced.reset is not None
            ):
                # A budget without its policy (X-RateLimit-Remaining and -Reset alone): when the
                # requests already sent since use it up, wait until the quota frees up rather
                # than meet a 429. With a policy, the pace keeps to it, and the budget left, in
                # whole seconds, would only hold requests back at every turn of a sliding window.
                after = self.sent - seq if seq is not None else 0
                if announced.remaining - after <= 0:
                    self.pause(announced.reset)
                    paused = min(announced.reset, self.max_wait)
        self._update(now)
        return paused

    def _pay_back(self) -> None:
        """The limit just learnt may be lower than the pace so far: the requests sent before the
        first answer went too fast for it. The next one leaves as if the pace had been the
        announced one from the first request on, or those few would overfill the window."""
        if self._first_slot is None:
            return
        interval = 60.0 / self._compute()
        self._last_slot = max(self._last_slot, self._first_slot + (self.sent - 1) * interval)

    def on_success(self, sent_at: float | None = None) -> None:
        """An answer other than 429: the pace held. Ramps up (``auto``), or climbs after a quiet
        stretch."""
        now = self._clock()
        self._accepted.append(now)
        while self._accepted and self._accepted[0] < now - 60.0:
            self._accepted.popleft()
        rate = self.current_rpm
        if self._ramping:
            if sent_at is None or sent_at >= self._last_change:
                self._rate = min(MAX_RPM, max(self._rate, rate) * 2)
                self._update(now, decided=True)
            return
        self._quiet_answers += 1
        if (
            self._quiet_answers < self.increase_after
            or now - self._quiet_since < self.increase_every
        ):
            return
        self._quiet_answers = 0
        self._quiet_since = now
        self._held = max(self._held or 0.0, rate)
        if self._refused is not None and now >= self._forget_at:
            # Long without a 429: the limit may have been raised.
            self._refused = self._estimate = None
            self._strikes = 0
        ceiling = self._refused if self._refused is not None else math.inf
        if self._rate == math.inf or rate >= ceiling:
            return
        # A step up, or half-way back to a step under the refused rate when far below it.
        self._rate = min(ceiling, max(rate * (1 + self.increase), (rate + ceiling) / 2))
        if self.auto and self._estimate is not None:
            # Probing upward: the limit lies at least that high, or the next 429 will say.
            self._estimate = max(self._estimate, self._rate)
        self._update(now, decided=True)

    def on_rate_limited(
        self,
        sent_at: float | None = None,
        retry_after: float | None = None,
        seq: int | None = None,
    ) -> None:
        """A 429 (after :meth:`pause` with its wait): a step down, deeper when repeated, or down
        to the estimated limit when the window is overloaded; nothing more while the last
        run's requests may still fill the window."""
        now = self._clock()
        if seq is not None:
            for index, (_, number) in enumerate(self._sends):
                if number == seq:
                    del self._sends[index]
                    break
        self._quiet_answers = 0
        self._quiet_since = now
        if sent_at is not None and sent_at < self._last_change and not self._ramping:
            return
        if self._holds_prior(now):
            logger.debug("%s 429 while the last run's requests fill the window", self.name)
            return
        rate = self.current_rpm
        if self._ramping and retry_after is not None:
            # The ramp's pace ran ahead of what was in flight: start from what went through.
            through = self._estimate_limit(now, retry_after)
            if through is not None:
                rate = min(rate, 2 * through)
        self._ramping = False
        self._strikes = self._strikes + 1 if now - self._last_429 < self.repeat_within else 1
        self._last_429 = now
        step = min(MAX_STEP, self.step * 2 ** (self._strikes - 1))
        new = rate * (1 - step)
        estimated = False
        estimate = None if retry_after is None else self._estimate_limit(now, retry_after)
        if estimate is not None and estimate < rate:
            if retry_after is not None and retry_after >= self.overload_after:
                self._estimate = estimate
                estimated = True
                new = min(new, estimate * self.headroom(estimate))
            elif self._strikes > 1:
                # What got through, pauses included, is a floor a deeper cut need not pass.
                new = max(new, estimate)
        self._rate = max(self.min_rpm, new)
        # The next estimate measures from here: what went through before this 429 is not all
        # in the server's window any more.
        self._accepted.clear()
        # Climbing may come back to a step under the refused rate; after an overload, the
        # refused pace says little (a burst), the estimate more: a step above it, to probe.
        refused = rate * (1 - self.step)
        if self._estimate is not None and self._estimate < rate:
            refused = min(refused, self._estimate * (1 + self.step))
        memory = self.forget_after
        limit = self.limit_rpm
        # With ``auto`` the refused rate is the limit found: forgetting it sends the gate
        # searching again, which a lone 429 does not justify.
        if (
            limit is not None
            and not self.auto
            and not estimated
            and self._strikes == 1
            and now - self._lone_at >= self.forget_after
        ):
            memory = min(memory, max(self.forget_lone_after, self.window(limit)))
            self._lone_at = now
        # A lone 429 never shortens what an earlier, confirmed one made the gate remember.
        remembered = self._forget_at if self._refused is not None else -math.inf
        self._forget_at = max(remembered, now + memory)
        self._refused = max(self._rate, refused)
        self._update(now, decided=True)

    def _holds_prior(self, now: float) -> bool:
        """Whether the server's window (as the gate knows it) still holds requests of the
        last run."""
        if not self._prior:
            return False
        limit = self.limit_rpm or self.current_rpm
        return self._prior[-1] > now - self.window(limit)

    def _seed_prior(self, loop_now: float) -> None:
        """The last run's sends into the window, on the event loop's clock (the pace's), and
        the pace as if the last of them were this gate's own last request."""
        self._prior_seeded = True
        offset = loop_now - self._clock()
        seeded = [(min(t + offset, loop_now), 0) for t in self._prior]
        # Older than any request of this gate's: the window forgets from its left.
        self._sends.extendleft(reversed(seeded))
        self._last_slot = max(self._last_slot, seeded[-1][0])

    def _estimate_limit(self, now: float, retry_after: float) -> float | None:
        """rpm: the answers accepted since the last 429 (over a minute at most) spread over that
        stretch and the wait the server asks for: what the server let through."""
        if len(self._accepted) < 5:
            return None
        stretch = now - self._accepted[0]
        if stretch <= 0:
            return None
        return len(self._accepted) * 60.0 / (stretch + retry_after)

    # --- the pace ---------------------------------------------------------------------------

    def close(self) -> None:
        """No request leaves any more: those waiting for their turn (and any later one) raise
        GateClosed at once, so a stopping run sends nothing new. Requests already sent go on."""
        self._closing.set()

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    async def _nap(self, sleep: Sleep, seconds: float, closable: bool) -> None:
        """``sleep(seconds)``, cut short when the gate closes (if ``closable``)."""
        if not closable:
            await sleep(seconds)
            return
        if self._closing.is_set():
            return
        # The sleep keeps the waiting task's name: a clock or a log tells waits apart by it.
        current = asyncio.current_task()
        name = current.get_name() if current is not None else None

        async def nap() -> None:
            await sleep(seconds)

        napping = asyncio.get_running_loop().create_task(nap(), name=name)
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({napping, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (napping, closing):
                task.cancel()

    async def _wait_pause(self, closable: bool = True) -> None:
        # A loop, because another worker may extend the pause while this one sleeps.
        while (remaining := self._paused_until - self._clock()) > 0:
            if closable and self.closed:
                return
            await self._nap(self._sleep, remaining, closable)

    def _window_wait(self, now: float) -> float:
        """Seconds until one more request fits the server's window, as the limit, the window
        and the headroom say: after a burst (``auto`` finding the limit, a cap far too high) a
        sliding window frees room only as the burst's requests leave it."""
        limit = self.limit_rpm
        if limit is None:
            return 0.0
        window = self.window(limit)
        while self._sends and self._sends[0][0] <= now - window:
            self._sends.popleft()
        # Half the jitter's headroom: the even pace keeps the rest; this only waits out a burst.
        # Never less than the pace's own share, or it would hold back an even pace.
        jitter = self.jitter
        share = min(
            self.max_headroom,
            max(window / (window + jitter / 2), jitter_share(limit, window, jitter)),
        )
        room = math.floor(limit / 60.0 * window * share) - 1
        excess = len(self._sends) - max(0, room)
        if excess <= 0:
            return 0.0
        return self._sends[excess - 1][0] + window - now

    async def _next_slot(self, closable: bool = True) -> None:
        """Wait for this request's turn: one interval after the previous one left, and room in
        the server's window.

        Timed on the event loop's own clock, as a limiter library would; the injected clock and
        sleep serve the 429 pause. One worker at a time waits here, the others on the lock, so
        a rate change applies to the very next request.
        """
        loop = asyncio.get_running_loop()
        async with self._slot:
            if not self._prior_seeded:
                self._seed_prior(loop.time())
            ready = -math.inf  # when the last wait was to end
            spacing = 60.0 / self.current_rpm if self.sent >= self._burst else 0.0
            while True:
                now = loop.time()
                wait = max(self._last_slot + spacing - now, self._window_wait(now))
                if wait <= 0 or (closable and self.closed):
                    break
                ready = now + wait
                await self._nap(asyncio.sleep, wait, closable)
            # Tasks already runnable go first (at the start of a run, every worker journals its
            # row before it reaches the gate): run between this turn and the request's bytes,
            # they would hold it back ~50 ms, and the next request, on time, would meet it
            # inside the server's window.
            await asyncio.sleep(0)
            # The turn is reckoned from when it was due, not from when a busy loop got to it:
            # timers a few ms late on a loaded machine would otherwise lower the rate by as
            # much (2% at 10 a second). Later than half an interval, the gate was idle, not
            # late, and nothing is made up (no burst after a quiet spell). How late is jitter
            # the round trips do not see; a wait for room in the window is no lateness.
            now, due = loop.time(), self._last_slot + 60.0 / self.current_rpm
            if 0 <= now - due <= 30.0 / self.current_rpm:
                self._last_slot = due
                self._lateness.append(max(0.0, now - max(due, ready)))
            else:
                self._last_slot = now
            if self._first_slot is None:
                self._first_slot = self._last_slot

    def _note_answered(self) -> None:
        """Every place in flight was taken and the next turn long due: the concurrency, not the
        pace, set the rate. Said once, with the concurrency the round trips need."""
        full = self._in_flight == self.concurrency
        self._in_flight -= 1
        if not full or self._ramping or self._paused_until > self._clock():
            return  # a ramp's pace is only nominal; a pause holds everything anyway
        interval = 60.0 / self.current_rpm
        if asyncio.get_running_loop().time() - self._last_slot <= 2 * interval:
            return
        self._capped += 1
        if self._capped != CAPPED_WARNING or not self._rtts:
            return
        slowest = max(self._rtts)
        needed = math.ceil(self.current_rpm / 60.0 * slowest * 1.2)
        logger.warning(
            "%s: %d requests in flight hold the rate under %.0f a minute (answers take up to "
            "%.1f s); --concurrency %d would not",
            self.name,
            self.concurrency,
            self.current_rpm,
            slowest,
            max(needed, self.concurrency + 1),
        )

    async def __aenter__(self) -> int:
        return await self.acquire()

    async def acquire(self, *, closable: bool = True) -> int:
        """Wait for a slot; the request's sequence number among those sent. GateClosed when
        the gate closes first, unless not ``closable`` (a read sharing the writes' gate: a
        stopping run still looks up what it may have sent)."""
        await self._wait_pause(closable)
        if closable and self.closed:
            raise GateClosed
        await self._semaphore.acquire()
        try:
            while True:
                await self._wait_pause(closable)
                await self._next_slot(closable)
                if closable and self.closed:
                    raise GateClosed
                # A 429 may have paused everyone while this worker waited for its turn.
                if self._paused_until <= self._clock():
                    self.sent += 1
                    self._in_flight += 1
                    self._sends.append((self._last_slot, self.sent))
                    return self.sent
        except BaseException:
            self._semaphore.release()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._note_answered()
        self._semaphore.release()
