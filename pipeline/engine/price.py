"""Drafts priced exactly: each draft's render price read from ``GET /videos/{id}/estimate``
(a read: it goes through the read gate and never slows the creates), into ``argil_credits``;
and the budget held on those prices before each render."""

from __future__ import annotations

import asyncio

from pipeline.argil.client import ArgilClient, ArgilError, FatalError
from pipeline.argil.models import VideoStatus
from pipeline.argil.price import RenderPrice
from pipeline.cost import estimate_body
from pipeline.engine.state import RunState
from pipeline.mapping import RowPlan


def needs_price(state: RunState, plan: RowPlan) -> bool:
    """A draft of this row whose exact price is not known yet."""
    result = state.results[plan.row]
    return (
        bool(result.video_id)
        and result.status == VideoStatus.IDLE
        and not (result.credits is not None and result.credits_exact)
    )


async def price_drafts(client: ArgilClient, state: RunState, plans: list[RowPlan]) -> None:
    """Every draft of ``plans`` without an exact price gets one (the reads go out together,
    paced by the read gate)."""
    await asyncio.gather(*(read_price(client, state, p) for p in plans if needs_price(state, p)))


async def read_price(client: ArgilClient, state: RunState, plan: RowPlan) -> float | None:
    """The row's render price as the API estimates it now, recorded; the local estimate (said
    so in the row) when the API's answer gives none; None when the API could not be asked."""
    video_id = state.results[plan.row].video_id
    try:
        price = await client.estimate_render(video_id)
    except FatalError as exc:
        state.stop(exc.message)
        return None
    except ArgilError as exc:
        price = RenderPrice(None)
        why = exc.message
    else:
        why = "the API's estimate gave no price"
    if price.credits is not None:
        state.priced(plan, price.credits, exact=True, new_balance=price.new_balance)
        return price.credits
    if plan.body is None:
        return None
    local = round(estimate_body(plan.body).credits, 2)
    state.priced(plan, local, exact=False, why=why)
    return local
