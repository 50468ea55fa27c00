"""What the shipped examples send, recorded so that a restructuring can be shown to change none
of it: for each example, every command's exit code, the first request a run sends, the first
create's body, and how many requests of each kind the run made.

    python benchmarks/first_requests.py > after.json
    diff before.json after.json

The API is ``argil-batch emulator`` (a separate process, started as a user would) behind a
small recording proxy written here on ``http.server``, so that nothing of the package under
test records its own requests. Every run works on a copy of ``input_examples`` and
``configs`` in a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [
    ("leads.csv", "leads.yaml"),
    ("launches.xlsx", "launches.yaml"),
    ("broken.csv", "broken.yaml"),
]
# Ids the emulator makes up differ from run to run: they are not what is compared.
_ID = re.compile(r"/videos/[^/?]+")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Recorder:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with recorder.lock:
                    recorder.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "body": json.loads(body) if body else None,
                        }
                    )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = httpx.request(
                    self.command, recorder.upstream + self.path, headers=headers, content=body
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = do_PUT = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            taken, self.requests = self.requests, []
        return taken


def _cli(*args: str, env: dict[str, str], cwd: Path) -> int:
    done = subprocess.run(
        ["argil-batch", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    return done.returncode


def _shape(requests: list[dict[str, Any]]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for request in requests:
        path = _ID.sub("/videos/ID", request["path"].split("?")[0])
        kinds[f"{request['method']} {path}"] = kinds.get(f"{request['method']} {path}", 0) + 1
    creates = [r["body"] for r in requests if r["method"] == "POST" and r["path"] == "/videos"]
    first_create = None
    if creates:
        # Sent concurrently: the first by row key, not by arrival.
        first_create = min(creates, key=lambda b: json.dumps(b.get("extras"), sort_keys=True))
    first = requests[0] if requests else None
    return {
        "first_request": f"{first['method']} {_ID.sub('/videos/ID', first['path'])}"
        if first
        else None,
        "first_create": first_create,
        "requests": dict(sorted(kinds.items())),
    }


def main() -> None:
    port = _free_port()
    work = Path(tempfile.mkdtemp(prefix="argil-first-"))
    emulator = subprocess.Popen(
        ["argil-batch", "emulator", "--port", str(port), "--render-seconds", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/videos", headers={"x-api-key": "k"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        recorder = Recorder(f"http://127.0.0.1:{port}")
        env = {
            **os.environ,
            "ARGIL_API_KEY": "first-requests-key",
            "ARGIL_BASE_URL": recorder.url,
            "NO_COLOR": "1",
        }
        results: dict[str, Any] = {}
        for sheet, config in EXAMPLES:
            folder = work / sheet.replace(".", "_")
            shutil.copytree(ROOT / "input_examples", folder / "input_examples")
            shutil.copytree(ROOT / "configs", folder / "configs")
            args = [f"input_examples/{sheet}", "-c", f"configs/{config}"]
            entry: dict[str, Any] = {
                "validate": _cli("validate", *args, env=env, cwd=folder),
                "dry_run": _cli("run", *args, "--dry-run", "--no-progress", env=env, cwd=folder),
            }
            recorder.take()
            entry["run"] = _cli("run", *args, "--yes", "--no-progress", env=env, cwd=folder)
            entry["run_requests"] = _shape(recorder.take())
            entry["rerun"] = _cli("run", *args, "--yes", "--no-progress", env=env, cwd=folder)
            entry["rerun_requests"] = _shape(recorder.take())
            output = folder / "input_examples" / re.sub(r"\.(\w+)$", r".argil.\1", sheet)
            entry["status"] = _cli("status", str(output), "--no-progress", env=env, cwd=folder)
            entry["status_requests"] = _shape(recorder.take())
            results[sheet] = entry
        json.dump(results, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    finally:
        emulator.terminate()
        emulator.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
