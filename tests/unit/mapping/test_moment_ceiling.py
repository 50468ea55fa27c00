"""The ceiling on moments (``limits.max_moments``, 50 unless set): a script that needs more is
the row's error, found without splitting the whole cell, in little time and memory (issue 21).
A cell of 20 MB through the command line: tests/e2e/test_hostile_input.py."""

from __future__ import annotations

import pytest
from hostile_files import measured, no_hang
from support import leads_config

from pipeline.config import parse_config
from pipeline.mapping import Mapper
from pipeline.sheets import Row

__all__ = ["no_hang"]  # an autouse fixture: each test here fails rather than hang

# No limits: the default ceiling.
MOMENTS_CONFIG = leads_config(video={"name": "{{ email }}"}, api=None)


def test_the_moment_ceiling_is_found_without_splitting_the_whole_cell() -> None:
    """No space in 5 MB, the splitter's worst case: it stops once the ceiling is passed."""
    mapper = Mapper(parse_config(MOMENTS_CONFIG), ["email", "script"])
    row = Row(2, {"email": "a@example.com", "script": "x" * (5 << 20)})
    plan, seconds, peak_mb = measured(lambda: mapper.map_row(row))
    assert [str(error) for error in plan.errors] == [
        "moments[0].transcript: the script needs about 10,486 moments, more than "
        "limits.max_moments (50)"
    ]
    assert seconds < 2 and peak_mb < 32, (seconds, peak_mb)


@pytest.mark.parametrize(
    "limits, moments, error",
    [
        ("", 60, "moments: 60 moments, more than limits.max_moments (50)"),
        ("limits: {max_moments: null}\n", 60, None),
        ("limits: {max_moments: 8}\n", 9, "moments: 9 moments, more than limits.max_moments (8)"),
    ],
)
def test_the_moment_ceiling_defaults_to_50(limits: str, moments: int, error: str | None) -> None:
    # Words of 251 characters: no two fit in one moment of 500, so each is a moment.
    script = " ".join(f"{n:03d}" + "x" * 248 for n in range(moments))
    plan = Mapper(parse_config(MOMENTS_CONFIG + limits), ["email", "script"]).map_row(
        Row(2, {"email": "a@example.com", "script": script})
    )
    if error is None:
        assert plan.status == "valid" and plan.moments == moments, plan.errors
    else:
        assert [str(e) for e in plan.errors] == [error]
