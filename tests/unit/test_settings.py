"""The settings of a run, resolved once: a flag over the config, the config over the sandbox's
default, that over the environment, that over the built-in default; every check made here,
for the command line and the Python API alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.errors import JobError
from pipeline.settings import (
    SANDBOX_RPM,
    SANDBOX_TARGET,
    WAIT_TIMEOUT,
    JobSpec,
    RunOptions,
    resolve,
)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGIL_API_KEY", "sk-from-the-environment")
    monkeypatch.delenv("ARGIL_BASE_URL", raising=False)


def spec(config: Path, **changes: object) -> JobSpec:
    return JobSpec(sheet=config.with_name("leads.csv"), config=config, **changes)  # type: ignore[arg-type]


def test_a_flag_wins_over_the_config_and_the_config_over_the_default(
    config: Callable[..., Path],
) -> None:
    written = config(api={"rpm": 30, "read_rpm": 100, "concurrency": 2, "max_credits": 500})
    from_config = resolve(spec(written))
    assert (from_config.rpm, from_config.read_rpm, from_config.concurrency) == (30.0, 100.0, 2)
    assert (from_config.options.max_credits, from_config.options.budget_source) == (
        500,
        "api.max_credits",
    )
    flagged = resolve(spec(written, rpm=90.0, read_rpm=900.0, concurrency=8, max_credits=50))
    assert (flagged.rpm, flagged.read_rpm, flagged.concurrency) == (90.0, 900.0, 8)
    assert (flagged.options.max_credits, flagged.options.budget_source) == (50, "--max-credits")
    bare = resolve(spec(config(api=None)))
    assert (bare.rpm, bare.read_rpm, bare.concurrency) == (60.0, 600.0, 4)
    assert bare.options.wait_timeout == WAIT_TIMEOUT


def test_the_sandbox_goes_at_its_own_pace_but_prices_at_the_real_one(
    config: Callable[..., Path],
) -> None:
    sandbox = resolve(spec(config(api={"rpm": 30}), sandbox=True))
    assert (sandbox.rpm, sandbox.read_rpm) == (SANDBOX_RPM, SANDBOX_RPM)
    assert (sandbox.forecast_rpm, sandbox.forecast_real_rate) == (30.0, False)
    assert sandbox.target == SANDBOX_TARGET and sandbox.api_key == ""
    assert sandbox.output.name == "leads.sandbox.argil.csv"
    assert sandbox.state.name == "leads.sandbox.argil.csv.sandbox-state"
    told = resolve(spec(config(), sandbox=True, rpm=120.0))
    assert (told.rpm, told.forecast_real_rate) == (120.0, True)


def test_the_environment_gives_the_key_and_the_url_unless_a_flag_does(
    config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGIL_BASE_URL", "https://eu.api.example.com/v1")
    from_env = resolve(spec(config()))
    assert from_env.base_url == "https://eu.api.example.com/v1"
    assert from_env.api_key == "sk-from-the-environment"
    assert "sk-from-the-environment" not in repr(from_env), "the key is never shown"
    flagged = resolve(spec(config(), base_url="http://127.0.0.1:9", api_key="sk-flag"))
    assert (flagged.base_url, flagged.api_key) == ("http://127.0.0.1:9", "sk-flag")
    monkeypatch.delenv("ARGIL_API_KEY")
    with pytest.raises(JobError, match="no API key"):
        resolve(spec(config()))
    assert resolve(spec(config(), command="dry-run")).api_key == "", "a dry run asks no API"


def test_wait_implies_render_once_for_every_caller(config: Callable[..., Path]) -> None:
    settings = resolve(spec(config(), options=RunOptions(wait=True)))
    assert settings.options.render and settings.options.wait


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sandbox": True, "command": "dry-run"}, "go separately"),
        ({"sandbox": True, "base_url": "https://x.example.com"}, "drop --base-url"),
        ({"options": RunOptions(render=True, callback_url="http://x.example.com")}, "https://"),
        ({"options": RunOptions(callback_url="https://x.example.com")}, "goes with --render"),
        ({"rows": "2-x"}, "use row numbers"),
        ({"base_url": "http://api.example.com"}, "https"),
    ],
)
def test_every_check_is_made_before_the_sheet_is_read(
    config: Callable[..., Path], changes: dict[str, object], message: str
) -> None:
    with pytest.raises(JobError, match=message):
        resolve(spec(config(), **changes))
