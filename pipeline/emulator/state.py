"""The emulated API's state and rules, without HTTP: :class:`Emulator`.

It holds the videos and their renders, and decides every answer: authentication, the per-key
rate windows (from ``pipeline/emulator/ratelimit.py``), latency and jitter, injected faults, the
body check (from ``spec.py``), credits, and the statuses a render moves through. Render progress
is computed lazily from the injectable clock whenever a video is read, so tests never sleep and
no background work runs. With a state file, videos and renders are kept across restarts (each
change appended as it happens, see ``_COMPACT_MIN``; :meth:`Emulator.close` leaves the file one
JSON object). The HTTP layer (``app.py``) only translates requests into calls here and
:class:`ApiFault` into error answers.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import hmac
import json
import math
import os
import random
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from pipeline.emulator.ratelimit import Limiter, announce_headers, retry_after_headers
from pipeline.emulator.settings import (
    ApiFault,
    EmulatorSettings,
    EmulatorStats,
    StateFileError,
)
from pipeline.emulator.spec import check_body, utf16_units

MAX_PAGE_SIZE: Final = 100
BATCH_KEY_EXTRA: Final = "argilBatchKey"
# Spoken speed used to estimate a video's duration from its transcripts.
CHARS_PER_SECOND: Final = 15.0
AUDIO_MOMENT_SECONDS: Final = 10.0

STATUS_IDLE: Final = "IDLE"
STATUS_AUDIO: Final = "GENERATING_AUDIO"
STATUS_VIDEO: Final = "GENERATING_VIDEO"
STATUS_DONE: Final = "DONE"
STATUS_FAILED: Final = "FAILED"
STATUS_MODERATED: Final = "CONTENT_MODERATED"
FAIL_RENDER_MARK: Final = "[fail-render]"
MODERATE_MARK: Final = "[moderate]"
_STATE_VERSION: Final = 1
# The state file is a snapshot (one JSON object, the whole file as it always was) followed by a
# line per change since, each the video's JSON and its render's: a change costs one short
# append, not a rewrite of every video (a 5,000-row sandbox run rewrote its file, 6.8 MB at the
# end, after each create, and fell from 80 rows a second to 9). Each line reaches the OS before
# the answer leaves, so a run killed mid-way (the sandbox's emulator dies with it) loses none of
# what its journal recorded; there is no fsync, a power cut was never guarded. Not a timer
# saving every second instead: that would lose the last second's videos in a crash, and be the
# only background work the emulator runs. The snapshot is written again once the lines reach
# the number of videos (or this many), so the file stays within a few times its state, writing
# it costs a constant per change, and loading it is linear.
_COMPACT_MIN: Final = 1000
_MISSING: Final = object()
# The API fills a moment's voice with the avatar's own when none is given.
_AVATAR_VOICE: Final = {f"avatar-{n}": f"voice-{n}" for n in ("emma", "noah", "lina", "marcus")}


@dataclass
class _Render:
    started: float  # settings.clock() when the render began
    outcome: str  # the final status it will reach
    origin: str  # scheme://host:port the video was created through, for its URLs
    callback_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "startedAt": self.started,
            "outcome": self.outcome,
            "origin": self.origin,
            "callbackUrl": self.callback_url,
        }


class Emulator:
    """The emulated API's state and rules; the HTTP layer only translates.

    Thread-safe: the server runs in its own thread while tests read ``videos`` and ``stats``.
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.stats = EmulatorStats()
        self._lock = threading.RLock()
        self._rng = random.Random(self.settings.seed)
        self._videos: dict[str, dict[str, Any]] = {}
        self._renders: dict[str, _Render] = {}
        writes, reads = self.settings.budgets()
        self._write_limiter = Limiter(writes) if writes is not None else None
        self._read_limiter = (
            self._write_limiter if reads is writes else Limiter(reads) if reads else None
        )
        self._credits_left = self.settings.credits
        self._last_created: dict[str, Any] | None = None
        # The state file, open for appending changes, and how many lines it has past its
        # snapshot; None until the first change (which writes the snapshot anew).
        self._appending: TextIO | None = None
        self._appended = 0
        if self.settings.state_file is not None:
            self._load(self.settings.state_file)

    def set_credits(self, credits: int | None) -> None:
        """Credits bought (or taken away) while the server runs; None means unlimited."""
        with self._lock:
            self.settings.credits = credits
            self._credits_left = credits

    # -- reading ---------------------------------------------------------------------------

    @property
    def videos(self) -> dict[str, dict[str, Any]]:
        """id -> the Video JSON as the API answers it, render progress brought up to date.

        The live store, not a copy: a test may edit it (to fake what the API did behind a
        client's back) while no request is in flight; edits are not written to the state file
        as they are made.
        """
        with self._lock:
            self._advance_all()
            return self._videos

    def count_by_batch_key(self) -> collections.Counter[str]:
        """``extras.argilBatchKey`` -> number of videos carrying it (a duplicate shows as 2+)."""
        with self._lock:
            return collections.Counter(
                str(video["extras"][BATCH_KEY_EXTRA])
                for video in self._videos.values()
                if isinstance(video.get("extras"), dict) and BATCH_KEY_EXTRA in video["extras"]
            )

    def stats_json(self) -> dict[str, Any]:
        with self._lock:
            counts = self.count_by_batch_key()
            return {
                **dataclasses.asdict(self.stats),
                "videos": len(self._videos),
                "credits_left": self._credits_left,
                "count_by_batch_key": dict(counts),
                "duplicate_batch_keys": sorted(key for key, n in counts.items() if n > 1),
            }

    # -- the gate every API request goes through ------------------------------------------

    def note_arrival(self, create: bool) -> None:
        """A request arrived (its latency on the way in still to pass)."""
        with self._lock:
            now = self.settings.clock()
            if self.stats.first_arrival is None:
                self.stats.first_arrival = now
            if create and self.stats.first_create_arrival is None:
                self.stats.first_create_arrival = now

    def note_request(self, read: bool = False) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.reads += read

    def authenticate(self, api_key: str | None) -> str:
        """The key to count the request against; 401 when missing or not the expected one."""
        if not api_key:
            raise ApiFault(401, "Missing API key: send it in the x-api-key header")
        expected = self.settings.api_key
        if expected is not None and not hmac.compare_digest(api_key.encode(), expected.encode()):
            raise ApiFault(401, "Invalid API key")
        return api_key

    def admit(self, api_key: str, method: str = "POST") -> dict[str, str]:
        """Count a request in the key's window for its kind (GETs are reads); 429 when that
        window is full. Returns the headers announcing the limit, if announced."""
        limiter = self._read_limiter if method == "GET" else self._write_limiter
        if limiter is None:
            return {}
        now = self.settings.clock()
        with self._lock:
            verdict = limiter.take(api_key, now)
            if not verdict.allowed:
                self.stats.rate_limited += 1
        budget = limiter.budget
        announced = announce_headers(budget, verdict) if self.settings.ratelimit_headers else {}
        if not verdict.allowed:
            raise ApiFault(
                429,
                f"Too many requests: at most {budget.limit} per {budget.window:g} seconds "
                "per API key",
                {**announced, **retry_after_headers(self.settings.retry_after, verdict.reset)},
            )
        return announced

    # -- a hostile or broken server (each knob off by default) ----------------------------

    def hostile(self, method: str) -> bool:
        """Whether the hostile knobs apply to the answer to a ``method`` request."""
        on = self.settings.hostile_on
        return on == "all" or (on == "reads") == (method == "GET")

    def redirect(self, method: str) -> str | None:
        """Where to redirect this request to instead of doing it, if anywhere."""
        location = self.settings.redirect_to
        if location is None or not self.hostile(method):
            return None
        with self._lock:
            self.stats.redirected += 1
        return location

    def throttle(self, method: str) -> None:
        """A 429 before anything is done, as often as ``throttle_rate`` says, whatever the
        rate window (the answer's headers say how long to wait)."""
        rate = self.settings.throttle_rate
        if not rate or not self.hostile(method) or not self.chance(rate):
            return
        with self._lock:
            self.stats.throttled += 1
            self.stats.rate_limited += 1
        raise ApiFault(429, "Too many requests: come back later")

    def answer_headers(self, method: str) -> dict[str, str]:
        return dict(self.settings.answer_headers) if self.hostile(method) else {}

    def oversize(self, method: str) -> int:
        """How many bytes this answer must take (0: as it is)."""
        size = self.settings.oversize_bytes
        if not size or not self.hostile(method):
            return 0
        with self._lock:
            self.stats.oversized += 1
        return size

    def drip(self, method: str) -> float:
        """Seconds between two bytes of this answer's body (0: sent at once)."""
        seconds = self.settings.drip_seconds
        if not seconds or not self.hostile(method):
            return 0.0
        with self._lock:
            self.stats.dripped += 1
        return seconds

    def inbound_delay_seconds(self) -> float:
        """How long a request travels before the server counts it: latency and jitter."""
        s = self.settings
        if not (s.latency_in_ms or s.latency_in_jitter_ms):
            return 0.0
        with self._lock:
            jitter = self._rng.uniform(-s.latency_in_jitter_ms, s.latency_in_jitter_ms)
        return max(0.0, s.latency_in_ms + jitter) / 1000.0

    def chance(self, probability: float) -> bool:
        with self._lock:
            return self._rng.random() < probability

    def delay_seconds(self) -> float:
        """How long to hold this answer: latency, jitter and maybe a spike."""
        s = self.settings
        with self._lock:
            jitter = self._rng.uniform(-s.latency_jitter_ms, s.latency_jitter_ms)
            spike = s.spike_ms if s.spike_rate and self._rng.random() < s.spike_rate else 0.0
        return max(0.0, s.latency_ms + jitter) / 1000.0 + spike / 1000.0

    # -- videos ----------------------------------------------------------------------------

    def create(self, body: object, origin: str) -> tuple[dict[str, Any], bool]:
        """Create a video from a parsed body: (the Video JSON, whether to drop the answer).

        Checks in the order the API is assumed to: injected failure (nothing created), body
        (400), credits (402); then creates, and maybe decides to drop the answer.
        """
        return self._create(lambda: body, origin)

    def create_json(self, raw: bytes, origin: str) -> tuple[dict[str, Any], bool]:
        """:meth:`create` from the raw request body; JSON that does not parse is a 400."""
        return self._create(lambda: parse_json(raw), origin)

    def _create(self, parse: Callable[[], object], origin: str) -> tuple[dict[str, Any], bool]:
        s = self.settings
        with self._lock:
            self.stats.creates += 1
            if s.fail_rate and self._rng.random() < s.fail_rate:
                self.stats.failed_injected += 1
                status = self._rng.choice((500, 502, 503))
                raise ApiFault(status, f"Injected server error {status}: nothing was created")
        body = parse()
        problems = check_body(body, s.transcript_chars)
        if problems:
            raise ApiFault(400, "Invalid body: " + "; ".join(problems))
        assert isinstance(body, dict)  # check_body accepted it, so it is an object
        with self._lock:
            if self._credits_left is not None:
                if self._credits_left <= 0:
                    raise ApiFault(
                        402,
                        "Not enough credits to create a video: "
                        f"the plan's {s.credits} credits are used up",
                    )
                self._credits_left -= 1
            video = self._new_video(body, origin)
            self._videos[video["id"]] = video
            self.stats.created += 1
            self.stats.create_times.append(s.clock())
            drop = bool(s.drop_rate) and self._rng.random() < s.drop_rate
            if drop:
                self.stats.dropped += 1
            answer, previous = video, self._last_created
            self._last_created = video
            if not drop and s.odd_rate and self._rng.random() < s.odd_rate:
                self.stats.odd_answers += 1
                answer = {"status": "accepted", "message": "Video creation queued"}
            elif not drop and previous and s.stale_rate and self._rng.random() < s.stale_rate:
                self.stats.stale_answers += 1
                answer = previous
            self._save(video["id"])
            return copy.deepcopy(answer), drop

    def _new_video(self, body: dict[str, Any], origin: str) -> dict[str, Any]:
        video_id = str(uuid.uuid4())
        now = _iso_now()
        moments = copy.deepcopy(body["moments"])
        for moment in moments:
            voice = _AVATAR_VOICE.get(moment.get("avatarId", ""))
            if "voiceId" not in moment and voice is not None:
                moment["voiceId"] = voice
        video: dict[str, Any] = {
            "id": video_id,
            "name": body["name"],
            "status": STATUS_IDLE,
            "createdAt": now,
            "updatedAt": now,
            "duration": None,
            "moments": moments,
            "aspectRatio": body.get("aspectRatio", "16:9"),
            "previewUrl": f"{origin}/preview/{video_id}",
        }
        if "subtitles" in body:
            video["subtitles"] = {"enable": bool(body["subtitles"].get("enable"))}
        if "extras" in body:
            video["extras"] = dict(body["extras"])
        return video

    def get(self, video_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance(video_id)
            return copy.deepcopy(self._require(video_id))

    def delete(self, video_id: str) -> dict[str, Any]:
        with self._lock:
            self._advance(video_id)
            video = self._require(video_id)
            del self._videos[video_id]
            self._renders.pop(video_id, None)
            self._save(video_id)
            return video

    def list(
        self, page: int = 1, limit: int = 10, extras_filter: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A page of videos, newest first, keeping those whose extras contain every pair."""
        if page < 1:
            raise ApiFault(400, f"page must be 1 or more, not {page}")
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ApiFault(400, f"limit must be between 1 and {MAX_PAGE_SIZE}, not {limit}")
        wanted = dict(extras_filter or {})
        with self._lock:
            self._advance_all()
            matching = [
                video
                for video in reversed(self._videos.values())
                if all((video.get("extras") or {}).get(k, _MISSING) == v for k, v in wanted.items())
            ]
            chosen = copy.deepcopy(matching[(page - 1) * limit : page * limit])
        return {
            "videos": chosen,
            "totalItems": len(matching),
            "totalPages": math.ceil(len(matching) / limit),
            "currentPage": page,
            "itemsPerPage": limit,
        }

    def estimate(self, video_id: str) -> dict[str, Any]:
        """``GET /videos/{id}/estimate``: the credits a render started now would cost, with
        nothing debited; the balance it would leave (which may be negative) when the emulator
        keeps one. Creation costs are not in it."""
        with self._lock:
            video = self._require(video_id)
            price = render_price(video)
            self.stats.estimates += 1
            shape = self.settings.estimate_shape
            balance = self.settings.balance
            if balance is None:
                return {} if shape == "bare" else {"totalCredits": price}
            after = round(balance - price, 2)
            if shape == "balances":
                return {"balance": balance, "newBalance": after}
            if shape == "bare":
                return {"newBalance": after}
            return {"totalCredits": price, "newBalance": after}

    def render(self, video_id: str, origin: str, callback_url: str | None = None) -> dict[str, Any]:
        """Start generating an IDLE video; its status then moves on with the clock. With a
        balance, the render's price is debited, or the render refused (402).

        The callback URL is kept but never called: the emulator runs no background work.
        """
        with self._lock:
            self._advance(video_id)
            video = self._require(video_id)
            if video["status"] != STATUS_IDLE:
                raise ApiFault(
                    400,
                    f"Video {video_id} is {video['status']}: only an IDLE video can be rendered",
                )
            price = render_price(video)
            if self.settings.balance is not None:
                if self.settings.balance < price:
                    raise ApiFault(
                        402,
                        f"Not enough credits to render: it costs {price:g}, the balance is "
                        f"{self.settings.balance:g}",
                    )
                self.settings.balance = round(self.settings.balance - price, 2)
            self.stats.credits_spent = round(self.stats.credits_spent + price, 2)
            self._renders[video_id] = _Render(
                started=self.settings.clock(),
                outcome=self._pick_outcome(str(video.get("name", ""))),
                origin=origin,
                callback_url=callback_url,
            )
            self.stats.renders += 1
            self._set_status(video, STATUS_AUDIO)
            self._advance(video_id, save=False)
            self._save(video_id)
            return copy.deepcopy(video)

    def _pick_outcome(self, name: str) -> str:
        if FAIL_RENDER_MARK in name:
            return STATUS_FAILED
        if MODERATE_MARK in name:
            return STATUS_MODERATED
        rate = self.settings.render_fail_rate
        if rate and self._rng.random() < rate:
            return STATUS_FAILED
        return STATUS_DONE

    def _require(self, video_id: str) -> dict[str, Any]:
        video = self._videos.get(video_id)
        if video is None:
            raise ApiFault(404, f"Video {video_id} not found")
        return video

    # -- render progress, computed when read -------------------------------------------------

    def _advance_all(self) -> None:
        changed = [
            video_id for video_id in list(self._renders) if self._advance(video_id, save=False)
        ]
        if changed:
            self._save(*changed)

    def _advance(self, video_id: str, save: bool = True) -> bool:
        job = self._renders.get(video_id)
        video = self._videos.get(video_id)
        if job is None or video is None:
            return False
        total = self.settings.render_seconds
        elapsed = self.settings.clock() - job.started
        audio_done = elapsed >= total / 3
        if job.outcome == STATUS_MODERATED and audio_done:
            # Moderation looks at the script: it happens once the audio is made.
            status = STATUS_MODERATED
        elif elapsed >= total:
            status = job.outcome
        elif audio_done:
            status = STATUS_VIDEO
        else:
            status = STATUS_AUDIO
        if status == video["status"]:
            return False
        if audio_done and video.get("duration") is None and status != STATUS_MODERATED:
            video["duration"] = _estimate_duration(video.get("moments") or [])
        if status == STATUS_DONE:
            video["videoUrl"] = f"{job.origin}/media/{video_id}.mp4"
            if (video.get("subtitles") or {}).get("enable"):
                video["videoUrlSubtitled"] = f"{job.origin}/media/{video_id}-subtitled.mp4"
        self._set_status(video, status)
        if status in (STATUS_DONE, STATUS_FAILED, STATUS_MODERATED):
            del self._renders[video_id]
        if save:
            self._save(video_id)
        return True

    @staticmethod
    def _set_status(video: dict[str, Any], status: str) -> None:
        video["status"] = status
        video["updatedAt"] = _iso_now()

    # -- persistence -------------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        if not path.exists():
            return
        try:
            text = path.read_text(encoding="utf-8")
            # The snapshot, then the changes since (see _COMPACT_MIN).
            state, end = json.JSONDecoder().raw_decode(text, len(text) - len(text.lstrip()))
            videos = state["videos"]
            renders = state.get("renders", {})
            if not isinstance(videos, dict) or not isinstance(renders, dict):
                raise TypeError("videos and renders must be objects")
            lines = text[end:].split("\n")
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    change = json.loads(line)
                except ValueError:
                    if number == len(lines):
                        break  # cut short by a crash while it was written
                    raise
                _apply(change, videos, renders)
            now = self.settings.clock()
            for video_id, job in renders.items():
                # A clock that restarted lower (another machine, a reboot) would freeze the
                # render: start it again from now instead.
                started = min(float(job["startedAt"]), now)
                self._renders[video_id] = _Render(
                    started, str(job["outcome"]), str(job["origin"]), job.get("callbackUrl")
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateFileError(f"cannot read the emulator state file {path}: {exc}") from exc
        self._videos = videos

    def _save(self, *video_ids: str) -> None:
        """What became of ``video_ids`` (held, deleted) into the state file, if any."""
        path = self.settings.state_file
        if path is None:
            return
        if self._appending is None or self._appended >= max(_COMPACT_MIN, len(self._videos)):
            self._write_snapshot(path)
            return
        lines = []
        for video_id in video_ids:
            job = self._renders.get(video_id)
            change = {
                "id": video_id,
                "video": self._videos.get(video_id),
                "render": job.to_json() if job is not None else None,
            }
            lines.append(json.dumps(change, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._appending.write("".join(lines))
        # Into the OS before the answer leaves: a crash of this process loses none of it.
        self._appending.flush()
        self._appended += len(video_ids)

    def _write_snapshot(self, path: Path, *, reopen: bool = True) -> None:
        """The whole state as one JSON object, in place of the file; then appends go after it."""
        state = {
            "version": _STATE_VERSION,
            "videos": self._videos,
            "renders": {video_id: job.to_json() for video_id, job in self._renders.items()},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, ensure_ascii=False, separators=(",", ":"))
                handle.write("\n")
            # No fsync: the file must survive the emulator being stopped or killed, not the
            # machine losing power.
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if self._appending is not None:
            self._appending.close()
        self._appending = path.open("a", encoding="utf-8") if reopen else None
        self._appended = 0

    def close(self) -> None:
        """Leave the state file as one snapshot and let it go (the server's stop calls this).
        A change after it opens the file again."""
        with self._lock:
            path = self.settings.state_file
            if path is None or self._appending is None:
                return
            if self._appended:
                self._write_snapshot(path, reopen=False)
            else:
                self._appending.close()
                self._appending = None


def _apply(change: Any, videos: dict[str, Any], renders: dict[str, Any]) -> None:
    """One line of the state file past its snapshot: a video as it became, None once deleted,
    and its render, None once finished."""
    video_id, video, job = str(change["id"]), change["video"], change["render"]
    if not isinstance(video, dict | None) or not isinstance(job, dict | None):
        raise TypeError(f"a change to video {video_id} is neither an object nor null")
    if video is None:
        videos.pop(video_id, None)
    else:
        videos[video_id] = video
    if job is None:
        renders.pop(video_id, None)
    else:
        renders[video_id] = job


def parse_json(raw: bytes | str) -> object:
    """A request body as JSON; 400 when it is not (NaN and Infinity are not JSON either)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiFault(400, f"The body is not valid JSON: {exc}") from exc


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _estimate_duration(moments: list[Any]) -> float:
    seconds = 0.0
    for moment in moments:
        if not isinstance(moment, dict):
            continue
        transcript = moment.get("transcript")
        if isinstance(transcript, str):
            seconds += max(1.0, utf16_units(transcript) / CHARS_PER_SECOND)
        else:
            seconds += AUDIO_MOMENT_SECONDS
    return round(seconds, 2)


def render_price(video: dict[str, Any]) -> float:
    """What rendering a video costs here: by its words and moments, on purpose not the
    client's own guess (15 characters a second), so a test can tell the two apart."""
    moments = video.get("moments") or []
    words = sum(len(str(m.get("transcript") or "").split()) for m in moments)
    audio = sum(1 for m in moments if m.get("audioUrl"))
    return round(1.3 * words + 7.0 * len(moments) + 20.0 * audio, 2)
