"""``--download DIR``: each finished video's MP4 saved in ``DIR``, named by ``download.name``
(default: the row's key and the video's name), never fetched twice (see
:func:`pipeline.argil.download.fetch_file`: streamed, resumed, moved into place whole)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from pipeline.argil.download import DownloadError, fetch_file, safe_file_name
from pipeline.argil.models import VideoStatus
from pipeline.engine.state import RunState
from pipeline.mapping import RowPlan
from pipeline.progress import DOWNLOADING

# Files at once: a few streams fill a line; more only share it.
PARALLEL = 4
_TIMEOUT = httpx.Timeout(connect=15.0, read=120.0, write=30.0, pool=None)


def file_names(plans: list[RowPlan], folder: Path) -> dict[int, Path]:
    """Each row's file in ``folder``; two rows whose names come out alike get their row
    number added, so that no row is ever handed another row's file."""
    taken: set[str] = set()
    names: dict[int, Path] = {}
    for plan in plans:
        stem = plan.file_name or f"{plan.key} {(plan.body or {}).get('name', '')}".strip()
        name = safe_file_name(stem)
        if name.casefold() in taken:
            name = safe_file_name(f"{stem} (row {plan.row})")
        taken.add(name.casefold())
        names[plan.row] = folder / name
    return names


async def download_files(
    state: RunState, plans: list[RowPlan], folder: Path, *, http: httpx.AsyncClient | None = None
) -> None:
    """The MP4 of every finished video of ``plans`` in ``folder``."""
    done = [
        p
        for p in plans
        if state.results[p.row].status == VideoStatus.DONE and state.results[p.row].video_url
    ]
    if not done or state.stopping:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        for plan in done:
            state.fault(plan, f"not downloaded: cannot make {folder} ({exc.strerror or exc})")
        return
    names = file_names(done, folder)
    state.phase = DOWNLOADING
    state.files_done, state.files_total = 0, len(done)
    gate = asyncio.Semaphore(PARALLEL)
    # A client of its own, without the API key: the file may sit on a CDN, not the API.
    own = http is None
    client = http or httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=True)
    try:

        async def one(plan: RowPlan) -> None:
            async with gate:
                if state.stopping:
                    return
                dest = names[plan.row]
                try:
                    await fetch_file(client, state.results[plan.row].video_url, dest)
                except DownloadError as exc:
                    state.fault(plan, f"not downloaded: {exc}")
                    return
                except OSError as exc:
                    state.fault(plan, f"not downloaded: {dest}: {exc.strerror or exc}")
                    return
                # Absolute: the sheet is read from anywhere, status run from another folder.
                state.downloaded(plan, str(dest.resolve()))
                state.show_progress()

        await asyncio.gather(*(one(p) for p in done))
    finally:
        if own:
            await client.aclose()
