"""An Argil-like server written apart from the project's emulator, on the standard library's
``http.server``, that mixes up its answers: a share of creates, renders and reads are answered
with some other video than the one asked about (a cache on the way, a load balancer mixing
up connections). It may also limit the writes it takes, as a server the project did not write
would: ``limit`` writes in any ``window`` seconds (a sliding window, never announced), each
write delayed on its way in by ``latency`` seconds, give or take ``jitter``, before it counts,
and refused with 429 and a ``Retry-After`` in whole seconds past the limit.

With ``finish_renders``, a rendered video is DONE from its next read on, its ``videoUrl`` on
this host under ``/files/{id}.mp4`` (not the emulator's ``/media``: a client must take the URL
it is given). The files are :func:`file_bytes`, ``file_size`` long, served with ranges
(``bytes=N-``, ``N-M``, ``-N``: 206; past the end: 416) and without any key; ``cut_downloads``
is the share of whole-file answers cut a third of the way in (the connection closed after the
headers promised it all), and ``file_requests`` records every file request's headers. Nothing
of ``pipeline`` is imported, so it cannot share the emulator's or the client's assumptions."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_FILE_PATH = re.compile(r"/files/([0-9a-f-]+)\.mp4")


def file_bytes(name: str, size: int) -> bytes:
    """The first ``size`` bytes of the file this server serves as ``name`` (e.g.
    ``"<id>.mp4"``): BLAKE2b digests of 64 bytes of ``"<name>#<n>"`` for n = 0, 1, 2...,
    one after the other. Not the emulator's bytes, on purpose."""
    blocks = (hashlib.blake2b(f"{name}#{n}".encode()).digest() for n in range(-(-size // 64)))
    return b"".join(blocks)[:size]


def _wanted(header: str | None, total: int) -> tuple[int, int] | str | None:
    """(first, last) byte of a single ``bytes=`` range, inclusive; "416" past the end; None
    for no range or one this server ignores (several, malformed)."""
    found = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not found or not any(found.groups()):
        return None
    first, last = found.groups()
    if not first:
        if int(last) == 0 or total == 0:
            return "416"
        return max(0, total - int(last)), total - 1
    if last and int(last) < int(first):
        return None
    if int(first) >= total:
        return "416"
    return int(first), min(int(last), total - 1) if last else total - 1


class MixedUpApi:
    def __init__(
        self,
        *,
        stale_creates: float = 0.0,
        stale_reads: float = 0.0,
        seed: int = 1,
        claim_pages: int | None = None,
        claim_items: int | None = None,
        same_page: bool = False,
        read_delay: float = 0.0,
        limit: int | None = None,
        window: float = 60.0,
        latency: float = 0.0,
        jitter: float = 0.0,
        finish_renders: bool = False,
        file_size: int = 200_000,
        cut_downloads: float = 0.0,
        balance: float | None = None,
    ) -> None:
        self.stale_creates = stale_creates
        self.stale_reads = stale_reads  # renders and GET /videos/{id}
        # A listing that lies: the page and item counts it claims, and whether every page
        # number answers with the first page's videos.
        self.claim_pages = claim_pages
        self.claim_items = claim_items
        self.same_page = same_page
        self.listings = 0
        # Every read held this long before its answer, and (arrived, answered) of each
        # request by kind: which reads went out together.
        self.read_delay = read_delay
        self.timeline: list[tuple[str, float, float]] = []
        self.videos: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []  # creation order
        self.renders: list[str] = []
        self.deleted: list[str] = []
        self.mixed_answers = 0
        self.limit, self.window = limit, window
        self.latency, self.jitter = latency, jitter
        # When each write of the last window was counted (monotonic seconds); when each create
        # was; how many writes were refused.
        self.counted: list[float] = []
        self.create_times: list[float] = []
        self.rate_limited = 0
        self.finish_renders = finish_renders
        # Credits: renders debit their price from the balance (402 past it); None: no balance.
        self.balance = balance
        self.spent = 0.0
        self.estimates = 0
        self.file_size, self.cut_downloads = file_size, cut_downloads
        # (method, path, headers with lower-case names) of each file request, and how many
        # whole-file answers were cut.
        self.file_requests: list[tuple[str, str, dict[str, str]]] = []
        self.files_cut = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                api.timeline.append(("write", time.monotonic(), 0.0))
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = urlsplit(self.path).path.strip("/").split("/")
                wait = api.admit()
                if wait is not None:
                    raw = json.dumps({"error": "Too many requests"}).encode()
                    self.send_response(429)
                    self.send_header("retry-after", str(wait))
                    self.send_header("content-length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                elif parts == ["v1", "videos"]:
                    self._send(*api.create(body))
                elif len(parts) == 4 and parts[3] == "render":
                    self._send(*api.render(parts[2]))
                else:
                    self._send(404, {"error": "not found"})

            def do_HEAD(self) -> None:
                self._file(body=False)

            def do_GET(self) -> None:
                if urlsplit(self.path).path.startswith("/files/"):
                    self._file(body=True)
                    return
                arrived = time.monotonic()
                time.sleep(api.read_delay)
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                if parts == ["v1", "videos"]:
                    self._send(200, api.listing(parse_qs(url.query)))
                elif parts == ["v1", "avatars"]:
                    self._send(200, [{"id": "avatar-emma", "name": "Emma", "gestures": []}])
                elif parts == ["v1", "voices"]:
                    self._send(200, [{"id": "voice-emma", "name": "Emma"}])
                elif len(parts) == 4 and parts[3] == "estimate":
                    self._send(*api.estimate(parts[2]))
                elif len(parts) == 3:
                    self._send(*api.read(parts[2]))
                else:
                    self._send(404, {"error": "not found"})
                api.timeline.append(("read", arrived, time.monotonic()))

            def do_DELETE(self) -> None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                self._send(*api.delete(parts[-1]))

            def _file(self, body: bool) -> None:
                path = urlsplit(self.path).path
                headers = {name.lower(): value for name, value in self.headers.items()}
                api.file_requests.append((self.command, path, headers))
                found = _FILE_PATH.fullmatch(path)
                if found is None or not api.is_done(found.group(1)):
                    self._send(404, {"error": "no such file"})
                    return
                total = api.file_size
                wanted = _wanted(headers.get("range"), total)
                if wanted == "416":
                    self.send_response(416)
                    self.send_header("content-range", f"bytes */{total}")
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                first, last = wanted if isinstance(wanted, tuple) else (0, total - 1)
                self.send_response(200 if wanted is None else 206)
                self.send_header("content-type", "video/mp4")
                self.send_header("accept-ranges", "bytes")
                self.send_header("content-length", str(last - first + 1))
                if wanted is not None:
                    self.send_header("content-range", f"bytes {first}-{last}/{total}")
                self.end_headers()
                if not body:
                    return
                data = file_bytes(path.rsplit("/", 1)[1], total)
                if wanted is None and api.cut():
                    # The headers promised it all: a third, then the connection closes.
                    self.wfile.write(data[: total // 3])
                    self.close_connection = True
                    return
                self.wfile.write(data[first : last + 1])

            def _send(self, status: int, data: object) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> MixedUpApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def admit(self) -> int | None:
        """Count a write once its latency has passed: None when the window has room, else the
        whole seconds to wait (the Retry-After)."""
        if self.latency or self.jitter:
            with self._lock:
                delay = self.latency + self._rng.uniform(-self.jitter, self.jitter)
            time.sleep(max(0.0, delay))
        with self._lock:
            now = time.monotonic()
            # Only the window's writes are kept: what it counts is all it needs.
            self.counted = [t for t in self.counted if t > now - self.window]
            if self.limit is not None and len(self.counted) >= self.limit:
                self.rate_limited += 1
                return max(1, math.ceil(self.counted[-self.limit] + self.window - now))
            self.counted.append(now)
            return None

    def cut(self) -> bool:
        """Whether to cut this whole-file answer (``cut_downloads`` of them, by the seeded
        rng)."""
        with self._lock:
            if not self.cut_downloads or self._rng.random() >= self.cut_downloads:
                return False
            self.files_cut += 1
            return True

    def is_done(self, video_id: str) -> bool:
        with self._lock:
            video = self.videos.get(video_id)
            if video is not None:
                self._finish(video)
            return video is not None and video["status"] == "DONE"

    def _finish(self, video: dict[str, Any]) -> None:
        # A render takes no time here: read after it, the video is done.
        if self.finish_renders and video["status"] == "GENERATING_VIDEO":
            video["status"] = "DONE"
            port = self._server.server_address[1]
            video["videoUrl"] = f"http://127.0.0.1:{port}/files/{video['id']}.mp4"

    def _other(self, video_id: str) -> dict[str, Any] | None:
        # One of the latest few: at concurrency, likely a video whose create answer its own
        # client has not read yet.
        others = [v for v in self.order[-5:] if v != video_id and v in self.videos]
        if not others:
            return None
        self.mixed_answers += 1
        return self.videos[self._rng.choice(others)]

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            video_id = str(uuid.uuid4())
            video = {
                "id": video_id,
                "name": body.get("name"),
                "status": "IDLE",
                "createdAt": datetime.now(UTC).isoformat(),
                "extras": dict(body.get("extras") or {}),
                "moments": body.get("moments") or [],
            }
            self.videos[video_id] = video
            self.order.append(video_id)
            self.create_times.append(time.monotonic())
            answer = video
            if self._rng.random() < self.stale_creates:
                answer = self._other(video_id) or video
            return 200, dict(answer)

    def render(self, video_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            video = self.videos.get(video_id)
            if video is None:
                return 404, {"error": "Video not found"}
            if video["status"] != "IDLE":
                return 400, {"error": "Video is not IDLE"}
            if self.balance is not None:
                price = self.price(video)
                if price > self.balance:
                    return 402, {"error": "Insufficient credits"}
                self.balance = round(self.balance - price, 2)
                self.spent = round(self.spent + price, 2)
            video["status"] = "GENERATING_VIDEO"
            self.renders.append(video_id)
            answer = video
            if self._rng.random() < self.stale_reads:
                answer = self._other(video_id) or video
            return 200, dict(answer)

    def price(self, video: dict[str, Any]) -> float:
        """What a render costs here: 0.3 a character of its transcripts and 9 a moment, its
        own rule, written apart from the emulator's and from the client's guess."""
        moments = video.get("moments") or []
        chars = sum(len(str(m.get("transcript") or "")) for m in moments)
        return round(0.3 * chars + 9 * len(moments), 2)

    def estimate(self, video_id: str) -> tuple[int, dict[str, Any]]:
        """``GET /videos/{id}/estimate``, answered as a balance before and after (the docs
        name ``newBalance`` alone: a client must read the price from the two)."""
        with self._lock:
            self.estimates += 1
            video = self.videos.get(video_id)
            if video is None:
                return 404, {"error": "Video not found"}
            balance = 1_000_000.0 if self.balance is None else self.balance
            return 200, {"balance": balance, "newBalance": round(balance - self.price(video), 2)}

    def read(self, video_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            video = self.videos.get(video_id)
            if video is None:
                return 404, {"error": "Video not found"}
            self._finish(video)
            answer = video
            if self._rng.random() < self.stale_reads:
                answer = self._other(video_id) or video
            return 200, dict(answer)

    def delete(self, video_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            video = self.videos.pop(video_id, None)
            if video is None:
                return 404, {"error": "Video not found"}
            self.deleted.append(video_id)
            return 200, video

    def listing(self, query: dict[str, list[str]]) -> dict[str, Any]:
        page = int(query.get("page", ["1"])[0])
        limit = int(query.get("limit", ["100"])[0])
        wanted = json.loads(query.get("extrasFilter", ["{}"])[0])
        with self._lock:
            for video in self.videos.values():
                self._finish(video)
            matching = [
                self.videos[v]
                for v in reversed(self.order)
                if v in self.videos
                and all(self.videos[v]["extras"].get(k) == x for k, x in wanted.items())
            ]
            # The batch's listings (by its tag), not the look-ups of one row by its key.
            self.listings += "argilBatch" in wanted
        pages = max(1, -(-len(matching) // limit))
        start = 0 if self.same_page else (page - 1) * limit
        return {
            "videos": matching[start : start + limit],
            "totalItems": len(matching) if self.claim_items is None else self.claim_items,
            "totalPages": pages if self.claim_pages is None else self.claim_pages,
            "currentPage": page,
            "itemsPerPage": limit,
        }

    def holders(self) -> dict[str, str]:
        """video id -> the argilBatchKey it carries."""
        with self._lock:
            return {v["id"]: str(v["extras"].get("argilBatchKey")) for v in self.videos.values()}
