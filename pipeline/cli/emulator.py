"""``argil-batch emulator``: the local Argil-compatible API served on loopback."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import fail, note


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address only.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True)
@click.option("--api-key", help="Accept only this key (default: any non-empty key).")
@click.option("--rpm", type=click.FloatRange(min=0.1), help="Rate limit (writes, with --read-rpm).")
@click.option("--read-rpm", type=click.FloatRange(min=0.1), help="Count GETs apart, at this limit.")
@click.option(
    "--rate-window",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Window of --rpm, in seconds.",
)
@click.option(
    "--rate-window-kind",
    type=click.Choice(["sliding", "fixed"]),
    default="sliding",
    show_default=True,
    help="Any rolling window, or counts reset at each window of clock time.",
)
@click.option(
    "--ratelimit-headers",
    is_flag=True,
    help="Announce the limit: RateLimit-Policy/RateLimit and X-RateLimit-*.",
)
@click.option(
    "--retry-after",
    type=click.Choice(["seconds", "date", "ms", "none"]),
    default="seconds",
    show_default=True,
    help="How a 429 says when to come back.",
)
@click.option(
    "--latency-in-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Latency before a request is counted (on the way in).",
)
@click.option("--latency-in-jitter-ms", type=click.FloatRange(min=0), default=0.0)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Latency after a request is counted (the answer's way out).",
)
@click.option("--latency-jitter-ms", type=click.FloatRange(min=0), default=0.0)
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, help="5xx before create.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0, help="Create, then hang up.")
@click.option(
    "--odd-rate", type=click.FloatRange(0, 1), default=0.0, help="Create, answer a non-Video."
)
@click.option(
    "--stale-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Create, answer with the previous create's video.",
)
@click.option("--render-seconds", type=click.FloatRange(min=0), default=3.0, show_default=True)
@click.option("--render-fail-rate", type=click.FloatRange(0, 1), default=0.0)
@click.option("--credits", type=click.IntRange(min=0), help="Creates allowed before 402.")
@click.option("--state-file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--seed", type=int)
@click.option(
    "--hostile-on",
    type=click.Choice(["all", "writes", "reads"]),
    default="all",
    show_default=True,
    help="Which answers the hostile options below apply to.",
)
@click.option(
    "--oversize",
    "oversize_bytes",
    type=click.IntRange(min=0),
    default=0,
    metavar="BYTES",
    help="Do the work, then answer this many bytes (streamed, no Content-Length).",
)
@click.option(
    "--drip",
    "drip_seconds",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Do the work, then send the answer's body one byte every SECONDS.",
)
@click.option("--redirect-to", metavar="URL", help="Answer 307 to URL instead of doing anything.")
@click.option(
    "--throttle-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="429 before anything is done, whatever the rate limit.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Add this header to the answers, e.g. 'Retry-After: 999999' (repeatable).",
)
def emulator(
    host: str,
    port: int,
    api_key: str | None,
    rpm: float | None,
    read_rpm: float | None,
    rate_window: float,
    rate_window_kind: str,
    ratelimit_headers: bool,
    retry_after: str,
    latency_in_ms: float,
    latency_in_jitter_ms: float,
    latency_ms: float,
    latency_jitter_ms: float,
    fail_rate: float,
    drop_rate: float,
    odd_rate: float,
    stale_rate: float,
    render_seconds: float,
    render_fail_rate: float,
    credits: int | None,
    state_file: Path | None,
    seed: int | None,
    hostile_on: str,
    oversize_bytes: int,
    drip_seconds: float,
    redirect_to: str | None,
    throttle_rate: float,
    headers: tuple[str, ...],
) -> None:
    """Serve a local Argil-compatible API (for trying things out and for tests)."""
    from pipeline.emulator import EmulatorError, EmulatorSettings, serve

    answer_headers: dict[str, str] = {}
    for header in headers:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            fail(f"--header {header!r} is not 'NAME: VALUE'")
        answer_headers[name.strip()] = value.strip()

    try:
        settings = EmulatorSettings(
            api_key=api_key,
            rpm=rpm,
            read_rpm=read_rpm,
            rate_window=rate_window,
            rate_window_kind=rate_window_kind,
            ratelimit_headers=ratelimit_headers,
            retry_after=retry_after,
            latency_in_ms=latency_in_ms,
            latency_in_jitter_ms=latency_in_jitter_ms,
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            fail_rate=fail_rate,
            drop_rate=drop_rate,
            odd_rate=odd_rate,
            stale_rate=stale_rate,
            render_seconds=render_seconds,
            render_fail_rate=render_fail_rate,
            credits=credits,
            state_file=state_file,
            seed=seed,
            hostile_on=hostile_on,
            oversize_bytes=oversize_bytes,
            drip_seconds=drip_seconds,
            redirect_to=redirect_to,
            throttle_rate=throttle_rate,
            answer_headers=answer_headers,
        )
    except EmulatorError as exc:  # a header that cannot be sent
        fail(str(exc))

    def listening(url: str) -> None:
        note(f"Argil emulator on {url} (Ctrl-C to stop)")
        # The key set with --api-key is not repeated: a key is never printed.
        key = "<the --api-key value>" if api_key else "any"
        note(f"  use it with: ARGIL_API_KEY={key} argil-batch run ... --base-url {url}")

    try:
        serve(settings, host=host, port=port, on_listening=listening)
    except KeyboardInterrupt:
        note("Emulator stopped.")
    except EmulatorError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another --port")
