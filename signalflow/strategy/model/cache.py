"""The per-bar decision cache shared by `ModelExitRule` and `ModelEntryRule`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from signalflow.core.errors import DecisionError
from signalflow.core.state import DECISION_CACHE_KEY, StrategyState
from signalflow.strategy.model.context import ModelContext, context_with_pending
from signalflow.strategy.model.decision import StrategyDecision

__all__ = ["decisions_for", "put_decisions", "cached_decisions", "notify_run_start"]


def _checked(model: Any, decisions: Iterable[StrategyDecision] | None) -> list[StrategyDecision]:
    if not decisions:
        return []
    if isinstance(decisions, StrategyDecision):
        return [decisions]
    if isinstance(decisions, (str, bytes, Mapping)) or not isinstance(decisions, Iterable):
        raise DecisionError(
            f"{type(model).__name__}.decide() must return a list of StrategyDecision (or None), "
            f"was {type(decisions).__name__}: {decisions!r:.80}; return e.g. "
            "[StrategyDecision(action=StrategyAction.ENTER, pair=...)] or [] for no decision"
        )
    out = list(decisions)
    for i, d in enumerate(out):
        if not isinstance(d, StrategyDecision):
            raise DecisionError(
                f"{type(model).__name__}.decide() must return a list of StrategyDecision, "
                f"item {i} was {type(d).__name__}: {d!r}"
            )
    return out


def decisions_for(model: Any, context: ModelContext, state: StrategyState) -> list[StrategyDecision]:
    """This bar's decisions of `model`: from the cache, or by calling `model.decide` once.

    The model is handed `context` with `pending` set to the orders still waiting for a
    next open (`context_with_pending`), so it can tell what the rules will accept.
    """
    cache = state.runtime.get(DECISION_CACHE_KEY)
    key = id(model)
    if cache is None:
        cache = state.runtime[DECISION_CACHE_KEY] = {}
    else:
        decisions = cache.get(key)
        if decisions is not None:
            return decisions
    portfolio = state.portfolio
    if portfolio.pending_entries or portfolio.pending_close:
        context = context_with_pending(context, portfolio)
    raw = model.decide(context)
    decisions = cache[key] = _checked(model, raw) if raw else []
    state.log.model_calls += 1
    return decisions


def put_decisions(model: Any, decisions: Iterable[StrategyDecision] | None, state: StrategyState) -> list[StrategyDecision]:
    """Place `decisions` in this bar's cache for `model`, so its rules use them without calling it."""
    cache = state.runtime.get(DECISION_CACHE_KEY)
    if cache is None:
        cache = state.runtime[DECISION_CACHE_KEY] = {}
    checked = cache[id(model)] = _checked(model, decisions)
    return checked


def cached_decisions(model: Any, state: StrategyState) -> list[StrategyDecision] | None:
    """This bar's cached decisions of `model`, or None if it has not decided yet."""
    cache = state.runtime.get(DECISION_CACHE_KEY)
    return None if cache is None else cache.get(id(model))


def notify_run_start(model: Any) -> None:
    """Tell `model` a run starts: calls `model.on_run_start()` if it has one (e.g. to reset hidden state).

    Both model rules call it; the hook must be idempotent within one run start.
    """
    hook = getattr(model, "on_run_start", None)
    if callable(hook):
        hook()
