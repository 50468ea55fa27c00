"""What a batch costs before it is sent: minutes of video, credits, and the time it takes.

Rough figures for a decision and a budget, never for billing. Sources: speech runs at about 15
characters a second (~150 words a minute); Argil's price list has video at 160 credits a
minute, generated voice at 20 credits a minute, an AI-image B-roll at 10 and a stock-video
B-roll at 20; the OpenAPI says an AVATAR_ACTION B-roll costs 40 plus 4 credits a second of
animation. The number of automatic B-rolls is the server's choice: it is guessed from the
intensity asked for (see ``AUTO_BROLLS_PER_MINUTE``). Not counted: avatar royalties (some stock
avatars only). The README says how far off the figures can be.

Exceptions: none; a body this module does not understand costs what its moments' length says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.wording import plural

CHARS_PER_SECOND = 15.0
AUDIO_MOMENT_SECONDS = 20.0  # an audioUrl moment's length is unknown: half the 40 s maximum
VIDEO_CREDITS_PER_MINUTE = 160.0
VOICE_CREDITS_PER_MINUTE = 20.0
BROLL_CREDITS = {
    "GENERATION": 10.0,
    "GOOGLE_IMAGES": 10.0,
    "STOCKS_VIDEO": 20.0,
    "AVATAR_ACTION": 40.0,
    "UPLOAD": 0.0,
}
AVATAR_ACTION_CREDITS_PER_SECOND = 4.0
# An automatic AVATAR_ACTION B-roll's length is the server's choice too: a few seconds.
AUTO_AVATAR_ACTION_SECONDS = 4.0
# Automatic B-rolls a minute of video, by intensity. A guess (the API does not say how many it
# places); AVATAR_ACTION takes no intensity and counts as MEDIUM.
AUTO_BROLLS_PER_MINUTE = {"LOW": 2.0, "MEDIUM": 4.0, "HIGH": 8.0}
# The deprecated ``enableAutoBrolls`` flag: generated images at the server's default intensity.
LEGACY_AUTO_BROLLS = ("GENERATION", "MEDIUM")


@dataclass(frozen=True)
class Estimate:
    """Videos, seconds of video and credits; estimates add up."""

    videos: int = 0
    seconds: float = 0.0
    credits: float = 0.0

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(
            self.videos + other.videos,
            self.seconds + other.seconds,
            self.credits + other.credits,
        )

    @property
    def minutes(self) -> float:
        return self.seconds / 60


def estimate_body(body: Mapping[str, Any]) -> Estimate:
    """The estimate of one ``POST /videos`` body."""
    speech = audio = brolls = 0.0
    for moment in body.get("moments") or []:
        if "audioUrl" in moment:
            seconds = AUDIO_MOMENT_SECONDS
            audio += seconds
        else:
            seconds = len(moment.get("transcript") or "") / CHARS_PER_SECOND
            speech += seconds
        broll = moment.get("broll")
        if broll is not None:
            kind = broll.get("type", "")
            brolls += BROLL_CREDITS.get(kind, 0.0)
            if kind == "AVATAR_ACTION":
                # The B-roll plays over its moment: animated for as long as the moment lasts.
                brolls += AVATAR_ACTION_CREDITS_PER_SECOND * seconds
    seconds = speech + audio
    credits = (
        seconds / 60 * VIDEO_CREDITS_PER_MINUTE
        + speech / 60 * VOICE_CREDITS_PER_MINUTE
        + brolls
        + _auto_brolls(body, seconds)
    )
    return Estimate(1, seconds, credits)


def _auto_brolls(body: Mapping[str, Any], seconds: float) -> float:
    auto = body.get("autoBrolls")
    if auto is not None and auto.get("enable"):
        source, intensity = auto.get("source", ""), auto.get("intensity") or "MEDIUM"
    elif body.get("enableAutoBrolls"):
        source, intensity = LEGACY_AUTO_BROLLS
    else:
        return 0.0
    count = seconds / 60 * AUTO_BROLLS_PER_MINUTE.get(intensity, AUTO_BROLLS_PER_MINUTE["MEDIUM"])
    each = BROLL_CREDITS.get(source, 0.0)
    if source == "AVATAR_ACTION":
        each += AVATAR_ACTION_CREDITS_PER_SECOND * AUTO_AVATAR_ACTION_SECONDS
    return count * each


def estimate_bodies(bodies: Iterable[Mapping[str, Any]]) -> Estimate:
    total = Estimate()
    for body in bodies:
        total += estimate_body(body)
    return total


@dataclass(frozen=True)
class Forecast:
    """What a run is about to send, and how long sending takes at the rate it uses."""

    estimate: Estimate
    requests: int  # writes: one create per video, and one render each with --render
    rpm: float | None  # the rate the time is reckoned at; None: --rpm auto, not known yet
    real_rate: bool  # False: the rate of the real run, not the one this (sandbox) run uses
    max_credits: float | None = None
    budget_source: str = "--max-credits"
    # Drafts made before that this run renders (--render), and what rendering them costs:
    # at the API's exact prices where the state file has them, else the local estimate.
    renders: int = 0
    render_credits: float = 0.0

    @property
    def send_seconds(self) -> float | None:
        """Requests leave evenly spaced, so N of them take N intervals."""
        return None if self.rpm is None else self.requests * 60.0 / self.rpm

    def as_dict(self) -> dict[str, Any]:
        return {
            "videos": self.estimate.videos,
            "minutes": round(self.estimate.minutes, 2),
            "credits": round(self.estimate.credits),
            "requests": self.requests,
            "rpm": self.rpm,
            "send_seconds": None if self.send_seconds is None else round(self.send_seconds, 1),
            "max_credits": self.max_credits,
            "renders": self.renders,
            "render_credits": round(self.render_credits, 2),
        }


def forecast(
    bodies: Iterable[Mapping[str, Any]],
    *,
    rpm: float | None,
    render: bool,
    real_rate: bool = True,
    max_credits: float | None = None,
    budget_source: str = "--max-credits",
) -> Forecast:
    estimate = estimate_bodies(bodies)
    requests = estimate.videos * (2 if render else 1)
    return Forecast(estimate, requests, rpm, real_rate, max_credits, budget_source)


class Budget:
    """A ceiling on the credits a run spends: each create at its local estimate, each render
    at its exact price (read from the API just before it). A run that creates and renders
    counts both, so it may stop early, never late.

    Every create sent counts, a resent one again: a create whose answer was lost may still
    land after the lookup found nothing, so only what was never sent is known to be free.
    """

    def __init__(self, limit: float, source: str = "--max-credits") -> None:
        self.limit = limit
        self.source = source
        self.spent = 0.0
        self.refused: float | None = None  # the exact price of the render it refused

    def take(self, body: Mapping[str, Any]) -> bool:
        """Count ``body`` as sent and say yes, or say no when it would pass the limit."""
        credits = estimate_body(body).credits
        if self.spent + credits > self.limit:
            return False
        self.spent += credits
        return True

    def take_price(self, credits: float) -> bool:
        """Count a render of this exact price as started and say yes, or say no when it would
        pass the limit."""
        if self.spent + credits > self.limit:
            self.refused = credits
            return False
        self.spent += credits
        return True

    def reason(self) -> str:
        if self.refused is not None:
            return (
                f"the budget is reached: {self.spent:,.2f} credits spent, the next render "
                f"({self.refused:,.2f}) would pass {self.source} {self.limit:,.2f}"
            )
        return (
            f"the budget is reached: about {self.spent:,.0f} credits sent, the next video would "
            f"pass {self.source} {self.limit:,.0f}"
        )


def describe(f: Forecast) -> str:
    """One line: what the run sends, what it costs, how long sending takes; and the drafts it
    renders, at their prices."""
    line = _describe_creates(f) if f.estimate.videos else ""
    if f.renders:
        drafts = (
            f"To render: {plural(f.renders, 'draft')} made before, {f.render_credits:,.2f} "
            "credits (the API's exact prices where known)"
        )
        line = f"{line} {drafts}" if line else drafts
    return line


def _describe_creates(f: Forecast) -> str:
    e = f.estimate
    what = (
        f"To send: {plural(e.videos, 'video')}, about {e.minutes:,.1f} min of video, "
        f"about {e.credits:,.0f} credits (an estimate)"
    )
    if f.max_credits is not None:
        what += f", budget {f.max_credits:,.0f}"
    sending = "sending" if f.requests == e.videos else f"sending {f.requests} requests"
    if f.rpm is None or f.send_seconds is None:
        return f"{what}; how long {sending} takes depends on the rate --rpm auto finds."
    pace = f"{f.rpm:g} requests a minute"
    took = duration_text(f.send_seconds)
    if f.real_rate:
        return f"{what}; {sending} at {pace} takes about {took}."
    return (
        f"{what}; at the real run's {pace} (--rpm or api.rpm), {sending} takes about {took} "
        "(the sandbox itself goes faster)."
    )


def over_budget_message(f: Forecast) -> str:
    return (
        f"this run would send {plural(f.estimate.videos, 'video')}, "
        f"about {f.estimate.minutes:,.1f} min of video, about {f.estimate.credits:,.0f} "
        f"credits: over {f.budget_source} {f.max_credits:,.0f}; nothing was sent (raise the "
        "budget, or send fewer rows with --rows)"
    )


def duration_text(seconds: float) -> str:
    """'40 s', '12 min', '3 h 05 min': as precise as an estimate deserves."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
