"""Spend only on what a person has seen and priced: drafts priced exactly by the API's
``GET /videos/{id}/estimate`` (never the local guess), ``render.when`` rendering only the
approved rows, and ``--max-credits`` held on the exact prices before each render."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import lead, leads_config, read_output

from pipeline.cost import estimate_body
from pipeline.emulator import EmulatorServer
from pipeline.emulator.state import render_price

pytestmark = pytest.mark.slow

APPROVAL = "{{ approved }}"


def write_sheet(path: Path, count: int, approved: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "company", "script", "approved"])
        for i in range(count):
            script = f"Hi Lead {i}! " + "We make short personal videos for your team. " * (
                1 + i % 4
            )
            writer.writerow([*lead(i, script), "yes" if i in approved else ""])


def run(
    cli: Callable[..., Any], server: EmulatorServer, folder: Path, *extra: str, **more: Any
) -> Any:
    return cli(
        "run",
        folder / "leads.csv",
        "-c",
        folder / "c.yaml",
        "-o",
        folder / "out.csv",
        "--base-url",
        server.base_url,
        "--no-progress",
        *extra,
        **more,
    )


def prices(server: EmulatorServer) -> dict[str, float]:
    return {vid: render_price(video) for vid, video in server.emulator.videos.items()}


def test_drafts_carry_the_apis_exact_price_and_the_run_states_the_total(
    make_emulator: Callable[..., EmulatorServer], cli: Callable[..., Any], tmp_path: Path
) -> None:
    server = make_emulator(balance=10_000.0)
    write_sheet(tmp_path / "leads.csv", 30)
    (tmp_path / "c.yaml").write_text(leads_config(), encoding="utf-8")

    result = run(cli, server, tmp_path)

    assert result.exit_code == 0, result.stderr
    assert server.emulator.stats.renders == 0
    exact = prices(server)
    rows = read_output(tmp_path / "out.csv")
    assert len(rows) == 30
    for row in rows:
        assert float(row["argil_credits"]) == exact[row["argil_video_id"]]
        assert row["argil_status"] == "IDLE" and row["argil_error"] == ""
    # Not the local guess: the API's own price.
    bodies = [
        {"moments": [{"transcript": r["script"]}]} for r in read_output(tmp_path / "leads.csv")
    ]
    assert [round(estimate_body(b).credits, 2) for b in bodies] != [
        float(r["argil_credits"]) for r in rows
    ]
    total = round(sum(exact.values()), 2)
    assert (
        f"Drafts: 30, {total:,.2f} credits to render them all (the API's exact estimate); "
        f"the balance after: {10_000 - total:,.2f}"
    ) in result.stderr
    # Priced once: a second run reads no estimate again.
    estimates = server.emulator.stats.estimates
    again = run(cli, server, tmp_path)
    assert again.exit_code == 0 and server.emulator.stats.estimates == estimates


def test_only_the_approved_drafts_are_rendered_and_paid(
    make_emulator: Callable[..., EmulatorServer], cli: Callable[..., Any], tmp_path: Path
) -> None:
    server = make_emulator(balance=10_000.0, render_seconds=0.0)
    approved = {1, 4, 7, 20}
    write_sheet(tmp_path / "leads.csv", 30, approved)
    (tmp_path / "c.yaml").write_text(leads_config(render={"when": APPROVAL}), encoding="utf-8")
    drafts = run(cli, server, tmp_path)
    assert drafts.exit_code == 0, drafts.stderr
    assert server.emulator.stats.renders == 0

    rendered = run(cli, server, tmp_path, "--render")

    assert rendered.exit_code == 0, rendered.stderr
    rows = read_output(tmp_path / "out.csv")
    exact = prices(server)
    yes = [r for r in rows if r["approved"] == "yes"]
    assert {r["email"] for r in yes} == {f"lead{i}@example.com" for i in approved}
    assert server.emulator.stats.renders == 4
    paid = round(sum(exact[r["argil_video_id"]] for r in yes), 2)
    assert server.emulator.stats.credits_spent == paid
    assert server.emulator.settings.balance == round(10_000 - paid, 2)
    for row in rows:
        if row["approved"] == "yes":
            assert row["argil_status"] != "IDLE"
        else:
            assert row["argil_status"] == "IDLE"
            assert row["argil_error"] == (
                "a draft waiting for approval: render.when ({{ approved }}) is not yes for this row"
            )


def test_the_budget_holds_on_the_exact_prices_before_each_render(
    make_emulator: Callable[..., EmulatorServer], cli: Callable[..., Any], tmp_path: Path
) -> None:
    server = make_emulator(balance=10_000.0)
    write_sheet(tmp_path / "leads.csv", 12, set(range(12)))
    (tmp_path / "c.yaml").write_text(
        leads_config(render={"when": APPROVAL}, api={"concurrency": 1}), encoding="utf-8"
    )
    assert run(cli, server, tmp_path).exit_code == 0
    rows = read_output(tmp_path / "out.csv")
    first_four = sum(float(r["argil_credits"]) for r in rows[:4])
    budget = round(first_four + 1, 2)  # just above four prices, below five

    result = run(cli, server, tmp_path, "--render", "--max-credits", str(budget))

    assert result.exit_code == 3, result.stderr
    assert "the budget is reached" in result.stderr
    assert server.emulator.stats.renders == 4
    assert server.emulator.stats.credits_spent <= budget
    left = [r for r in read_output(tmp_path / "out.csv") if r["argil_status"] == "IDLE"]
    assert len(left) == 8  # drafts still, for the next run


def test_a_sample_first_shows_the_range_then_the_full_run_makes_the_rest_once(
    emulator: EmulatorServer, cli: Callable[..., Any], tmp_path: Path
) -> None:
    sheet = tmp_path / "leads.csv"
    with sheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "first_name", "company", "script", "avatar"])
        for i in range(12):
            script = f"Hi Lead {i}! A short idea for you."
            if i == 6:  # the longest: three moments at a 60-character limit
                script = "We make short personal videos for your whole team. " * 3
            if i == 9:
                script = "Grüße aus Köln, señora Núñez! 日本語も話せます。"
            writer.writerow([*lead(i, script), "avatar-noah" if i in (3, 4) else "avatar-emma"])
    moments = [{"transcript": "{{ script }}", "avatar_id": "{{ avatar }}"}]
    config = leads_config(moments=moments, limits={"transcript_chars": 60})
    (tmp_path / "c.yaml").write_text(config, encoding="utf-8")

    sample = run(cli, emulator, tmp_path, "--sample", "3")

    assert sample.exit_code == 0, sample.stderr
    videos = emulator.emulator.videos.values()
    assert len(videos) == 3
    made = {v["name"] for v in videos}
    assert "Intro for Lead6 at Company 6" in made  # the longest script
    avatars = {m["avatarId"] for v in videos for m in v["moments"]}
    assert avatars == {"avatar-emma", "avatar-noah"}
    assert "Intro for Lead9 at Company 9" in made  # the widest characters
    line = next(line for line in sample.stderr.splitlines() if line.startswith("Sample: 3 rows"))
    assert "the longest script (3 moments" in line and "avatar avatar-noah" in line
    assert "the widest characters" in line and "wait for the next run (9 valid)" in line
    statuses = [r["argil_status"] for r in read_output(tmp_path / "out.csv")]
    assert statuses.count("IDLE") == 3 and statuses.count("NOT_RUN") == 9

    full = run(cli, emulator, tmp_path)

    assert full.exit_code == 0, full.stderr
    counts = emulator.emulator.count_by_batch_key()
    assert len(counts) == 12 and set(counts.values()) == {1}


def test_against_a_server_the_project_did_not_write(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    """Its estimate is its own rule, its renders debit a balance, its finished videos are
    files it serves and half of its downloads are cut a third of the way in: 30 drafts priced
    by it, only the approved rendered and paid, every file whole, nothing fetched twice."""
    from mixed_up_api import MixedUpApi, file_bytes

    approved = {0, 3, 8, 13, 21, 29}
    write_sheet(tmp_path / "leads.csv", 30, approved)
    config = leads_config(render={"when": APPROVAL}, api={"read_rpm": 60000})
    (tmp_path / "c.yaml").write_text(config, encoding="utf-8")
    videos = tmp_path / "videos"
    with MixedUpApi(balance=50_000.0, finish_renders=True, cut_downloads=0.5, seed=4) as api:

        def go(*extra: str) -> Any:
            return cli(
                "run", tmp_path / "leads.csv", "-c", tmp_path / "c.yaml", "-o",
                tmp_path / "out.csv", "--base-url", api.base_url, "--no-progress", *extra,
            )  # fmt: skip

        drafts = go()

        assert drafts.exit_code == 0, drafts.stderr
        assert api.renders == []
        rows = read_output(tmp_path / "out.csv")
        prices = {r["argil_video_id"]: api.price(api.videos[r["argil_video_id"]]) for r in rows}
        assert [float(r["argil_credits"]) for r in rows] == [
            prices[r["argil_video_id"]] for r in rows
        ]
        total = round(sum(prices.values()), 2)
        assert f"Drafts: 30, {total:,.2f} credits to render them all" in drafts.stderr
        assert f"the balance after: {50_000 - total:,.2f}" in drafts.stderr

        # A budget just above the four cheapest approved prices: never more spent than it.
        approved_prices = sorted(
            prices[r["argil_video_id"]] for r in rows if r["approved"] == "yes"
        )
        budget = round(sum(approved_prices[:4]) + 0.01, 2)
        limited = go("--render", "--max-credits", str(budget))
        assert limited.exit_code == 3, limited.stderr
        assert "the budget is reached" in limited.stderr
        assert 1 <= len(api.renders) <= 4 and api.spent <= budget

        rendered = go("--render", "--wait", "--download", str(videos))

        assert rendered.exit_code == 0, rendered.stderr
        rows = read_output(tmp_path / "out.csv")
        yes = [r for r in rows if r["approved"] == "yes"]
        assert sorted(api.renders) == sorted(r["argil_video_id"] for r in yes)
        assert api.spent == round(sum(prices[r["argil_video_id"]] for r in yes), 2)
        assert api.files_cut > 0
        for row in rows:
            if row["approved"] != "yes":
                assert (
                    row["argil_status"] == "IDLE" and "waiting for approval" in row["argil_error"]
                )
                assert row["argil_file"] == ""
                continue
            assert row["argil_status"] == "DONE"
            file = Path(row["argil_file"])
            assert file.parent == videos.resolve()
            name = f"{row['argil_video_id']}.mp4"
            assert file.read_bytes() == file_bytes(name, api.file_size)
        assert not list(videos.glob(".*.part"))
        requests = len(api.file_requests)

        again = cli(
            "status", tmp_path / "out.csv", "--download", str(videos), "--no-progress",
            "--base-url", api.base_url,
        )  # fmt: skip

        assert again.exit_code == 0, again.stderr
        assert len(api.file_requests) == requests  # every file there: none fetched again


@pytest.mark.parametrize("shape", ["balances", "bare"])
def test_an_estimate_read_from_any_shape_or_the_local_one_said_so(
    make_emulator: Callable[..., EmulatorServer],
    cli: Callable[..., Any],
    tmp_path: Path,
    shape: str,
) -> None:
    server = make_emulator(balance=5_000.0, estimate_shape=shape)
    write_sheet(tmp_path / "leads.csv", 4)
    (tmp_path / "c.yaml").write_text(leads_config(), encoding="utf-8")

    result = run(cli, server, tmp_path)

    assert result.exit_code == 0, result.stderr
    exact = prices(server)
    for row in read_output(tmp_path / "out.csv"):
        price = float(row["argil_credits"])
        if shape == "balances":  # the price as the balance minus newBalance
            assert price == exact[row["argil_video_id"]] and row["argil_error"] == ""
        else:  # no price to read: the local estimate, and the row says so
            sent = server.emulator.videos[row["argil_video_id"]]
            local = estimate_body({"moments": sent["moments"]}).credits
            assert price != exact[row["argil_video_id"]] and abs(price - local) < 0.5
            assert row["argil_error"] == (
                "argil_credits is a local estimate (the API's estimate gave no price)"
            )
    if shape == "bare":
        assert "4 of them a local estimate: the API's could not be read" in result.stderr


def test_on_a_terminal_the_question_counts_the_drafts_at_their_exact_prices(
    make_emulator: Callable[..., EmulatorServer],
    cli: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = make_emulator(balance=100_000.0)
    write_sheet(tmp_path / "leads.csv", 40)
    (tmp_path / "c.yaml").write_text(leads_config(), encoding="utf-8")
    assert run(cli, server, tmp_path).exit_code == 0
    total = round(sum(float(r["argil_credits"]) for r in read_output(tmp_path / "out.csv")), 2)
    assert total > 1000  # over the amount a terminal is asked about
    monkeypatch.setattr("pipeline.cli.run._interactive", lambda: True)

    result = run(cli, server, tmp_path, "--render", input="n\n")

    assert result.exit_code == 2, result.stderr
    assert (
        f"To render: 40 drafts made before, {total:,.2f} credits (the API's exact prices "
        "where known)"
    ) in result.stderr
    assert "Send it?" in result.stderr
    assert server.emulator.stats.renders == 0
