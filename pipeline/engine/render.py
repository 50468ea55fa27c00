"""A created video's render started (``--render``), and a video read back by its id: what a
lost or refused render answer leaves is read from the API, never guessed."""

from __future__ import annotations

from pipeline import journal as j
from pipeline.argil.client import (
    ArgilClient,
    ArgilError,
    FatalError,
    InDoubt,
    NotFound,
    NotSent,
    RowError,
)
from pipeline.argil.models import Video, VideoStatus
from pipeline.batch import carried_key
from pipeline.cost import Budget
from pipeline.engine.price import read_price
from pipeline.engine.state import RunState
from pipeline.mapping import RowPlan


async def render(
    client: ArgilClient, state: RunState, plan: RowPlan, budget: Budget | None = None
) -> None:
    """Start generation of the row's video; a lost or refused answer is read back. With a
    budget, the render's exact price is read just before it, and a render that would pass
    the budget is not started: the run stops, the row stays a draft."""
    result = state.results[plan.row]
    if state.stopping or not result.video_id:
        return
    if budget is not None:
        price = await read_price(client, state, plan)
        if state.stopping:
            return
        if price is None:
            state.fault(plan, "render not started: its price could not be read; run again")
            return
        if not budget.take_price(price):
            state.stop(budget.reason())
            state.set_error(plan, f"not rendered: {budget.reason()}; a draft")
            return
    try:
        video = await client.render_video(result.video_id, state.options.callback_url)
        if not is_answer_about(video, result.video_id, plan.key):
            # An answer about another video says nothing of this one's render.
            raise InDoubt(f"the render answer named video {video.id}")
    except InDoubt:
        # Whether generation started is read back rather than guessed.
        current = await get_video(client, state, plan)
        if current is None:
            return
        if current.status == VideoStatus.IDLE:
            state.fault(plan, "render answer lost; run again with --render")
            return
        video = current
    except RowError as exc:
        current = await get_video(client, state, plan)
        if current is None or current.status == VideoStatus.IDLE:
            state.fault(plan, f"render refused: {exc.message}")
            return
        video = current
    except FatalError as exc:
        state.stop(exc.message)
        state.fault(plan, f"render not started: {exc.message}")
        return
    except NotSent:
        return  # the run stopped first; the next run with --render starts it
    except ArgilError as exc:
        state.fault(plan, f"render not started: {exc.message}; run again with --render")
        return
    state.render_started(plan, video)


async def get_video(client: ArgilClient, state: RunState, plan: RowPlan) -> Video | None:
    """The row's video as the API has it now; None (and the row's fault) when it cannot say."""
    result = state.results[plan.row]
    try:
        video = await client.get_video(result.video_id)
    except NotFound:
        state.gone(plan)
        return None
    except ArgilError as exc:
        if isinstance(exc, FatalError):
            state.stop(exc.message)
        state.fault(plan, f"status not refreshed: {exc.message}")
        return None
    if not is_answer_about(video, result.video_id, plan.key):
        state.fault(plan, f"status not refreshed: the API answered with video {video.id}")
        return None
    return video


def is_answer_about(video: Video, video_id: str, key: str) -> bool:
    """Whether an answer about the row's video (a render's, a status read's) is about that
    video: its id, and the row key it carries when it carries one. A stale or crossed answer
    never lands on the row."""
    carried = carried_key(video)
    if carried is not None and j.parse_batch_key(carried)[0] != key:
        return False
    return video.id == video_id
