"""Every code example of the "External Model Integration" guide runs as written.

The guide's ```python blocks are embedded below verbatim (see
`test_guide_snippets_match_reference_guide_verbatim`) and executed with `exec`
in a namespace that provides what the guide leaves to the reader (`raw_data`,
`signals`, `broker`, `model`, ...). Fragments (a bare `def decide(...)`, a bare
`StrategyDecision(...)`) are wrapped into a model and run in a real backtest.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from signalflow.core import StrategyState
from signalflow.data.synthetic import make_synthetic_market
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor
from signalflow.strategy.component.entry import SignalEntryRule
from signalflow.strategy.component.exit import TakeProfitStopLossExit
from signalflow.strategy.exporter import BARS_SCHEMA, TRADES_SCHEMA, BacktestExporter
from signalflow.strategy.model import (
    ModelContext,
    ModelEntryRule,
    ModelExitRule,
    StrategyAction,
    StrategyDecision,
    StrategyModel,
)
from signalflow.strategy.runner import BacktestRunner

GUIDE_PATH = Path(os.environ.get(
    "SIGNALFLOW_GUIDE", Path(__file__).resolve().parents[3] / "shared" / "reference" / "external-model-integration.md"
))

# --- verbatim code examples of the guide, in order (generated from the guide; do not edit by hand) ---
QUICKSTART_MODEL = '''\
from signalflow.strategy.model import (
    StrategyModel,
    StrategyAction,
    StrategyDecision,
    ModelContext,
)


class MyModel:
    """Your ML/RL model implementing StrategyModel protocol."""

    def decide(self, context: ModelContext) -> list[StrategyDecision]:
        decisions = []

        for row in context.signals.value.iter_rows(named=True):
            prob = row.get("probability", 0.5)

            if prob > 0.7:
                decisions.append(StrategyDecision(
                    action=StrategyAction.ENTER,
                    pair=row["pair"],
                    confidence=prob,
                ))

        return decisions
'''

CREATE_RULES = '''\
from signalflow.strategy.model import ModelEntryRule, ModelExitRule

model = MyModel()

entry_rule = ModelEntryRule(
    model=model,
    base_position_size=0.02,
    max_positions=5,
    min_confidence=0.6,
)

exit_rule = ModelExitRule(
    model=model,
    min_confidence=0.7,
)
'''

RUN_BACKTEST = '''\
from signalflow.strategy.runner import BacktestRunner
from signalflow.strategy.broker import BacktestBroker
from signalflow.strategy.broker.executor import VirtualSpotExecutor

runner = BacktestRunner(
    strategy_id="model_strategy",
    broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001)),
    entry_rules=[entry_rule],
    exit_rules=[exit_rule],
    initial_capital=10_000.0,
)

state = runner.run(raw_data, signals)
'''

ENTRY_DECISION = '''\
StrategyDecision(
    action=StrategyAction.ENTER,
    pair="BTCUSDT",
    size_multiplier=1.5,  # 1.5x base position size
    confidence=0.85,
    meta={"reason": "high_confidence_signal"},
)
'''

EXIT_DECISION = '''\
StrategyDecision(
    action=StrategyAction.CLOSE,
    pair="BTCUSDT",
    position_id="pos_abc123",  # Required for CLOSE
    confidence=0.9,
    meta={"reason": "take_profit"},
)
'''

CLOSE_ALL_DECISION = '''\
StrategyDecision(
    action=StrategyAction.CLOSE_ALL,
    pair="BTCUSDT",  # Close all BTC positions
    confidence=0.8,
    meta={"reason": "risk_off"},
)
'''

ACCESSING_CONTEXT = '''\
def decide(self, context: ModelContext) -> list[StrategyDecision]:
    # Check portfolio state
    equity = context.metrics.get("equity", 0)
    drawdown = context.metrics.get("max_drawdown", 0)

    # Risk check
    if drawdown > 0.15:
        return []  # No trading during high drawdown

    # Process signals
    for row in context.signals.value.iter_rows(named=True):
        pair = row["pair"]
        signal_type = row["signal_type"]
        prob = row["probability"]

        # Get current price
        price = context.prices.get(pair, 0)

        # Check existing positions
        pair_positions = [p for p in context.positions if p.pair == pair]

        # Your model logic here...
'''

MODEL_EXIT_MANAGEMENT = '''\
def decide(self, context: ModelContext) -> list[StrategyDecision]:
    decisions = []

    for pos in context.positions:
        price = context.prices.get(pos.pair, pos.entry_price)
        pnl_pct = (price - pos.entry_price) / pos.entry_price

        # Take profit
        if pnl_pct > 0.05:  # 5% profit
            decisions.append(StrategyDecision(
                action=StrategyAction.CLOSE,
                pair=pos.pair,
                position_id=pos.id,
                confidence=0.9,
                meta={"reason": "model_take_profit"},
            ))

        # Stop loss
        elif pnl_pct < -0.02:  # 2% loss
            decisions.append(StrategyDecision(
                action=StrategyAction.CLOSE,
                pair=pos.pair,
                position_id=pos.id,
                confidence=0.95,
                meta={"reason": "model_stop_loss"},
            ))

    return decisions
'''

HYBRID = '''\
from signalflow.strategy.component.exit import TakeProfitStopLossExit

runner = BacktestRunner(
    strategy_id="hybrid_strategy",
    broker=broker,
    entry_rules=[
        ModelEntryRule(model=model, base_position_size=0.02),
    ],
    exit_rules=[
        ModelExitRule(model=model),  # Model-based exits first
        TakeProfitStopLossExit(      # Fallback TP/SL
            take_profit_pct=0.05,
            stop_loss_pct=0.03,
        ),
    ],
    initial_capital=10_000.0,
)
'''

TRAINING_EXPORT = '''\
from pathlib import Path
from signalflow.strategy.exporter import BacktestExporter

exporter = BacktestExporter()

# During backtest
for ts in timestamps:
    # ... process bar ...
    exporter.export_bar(ts, signals, state.metrics, state)

# When positions close
exporter.export_position_close(position, exit_time, exit_price, "take_profit")

# Write to disk
exporter.finalize(Path("./training_data"))
'''

READ_BARS = '''\
import polars as pl

bars = pl.read_parquet("./training_data/bars.parquet")
# Columns: timestamp, pair, signal_type, probability,
#          metric_equity, metric_max_drawdown, ...
'''

READ_TRADES = '''\
trades = pl.read_parquet("./training_data/trades.parquet")
# Columns: position_id, pair, entry_time, exit_time,
#          entry_price, exit_price, realized_pnl, exit_reason, ...
'''

RL_MODEL = '''\
import numpy as np
from signalflow.strategy.model import (
    StrategyAction,
    StrategyDecision,
    ModelContext,
)


class RLTradingModel:
    """RL model for trading decisions."""

    def __init__(self, model_path: str, epsilon: float = 0.0):
        self.model = self._load_model(model_path)
        self.epsilon = epsilon  # Exploration rate

    def decide(self, context: ModelContext) -> list[StrategyDecision]:
        decisions = []

        # Build state features
        features = self._build_features(context)

        # Get Q-values from model
        q_values = self.model.predict(features)

        # Epsilon-greedy action selection (for training)
        if np.random.random() < self.epsilon:
            action_idx = np.random.choice(len(q_values))
        else:
            action_idx = np.argmax(q_values)

        # Map to trading action
        action = self._map_action(action_idx, context)
        if action:
            decisions.append(action)

        return decisions

    def _build_features(self, context: ModelContext) -> np.ndarray:
        """Build feature vector from context."""
        features = []

        # Portfolio state
        features.append(context.metrics.get("equity", 10000) / 10000)
        features.append(context.metrics.get("max_drawdown", 0))

        # Position count
        features.append(len(context.positions) / 10)

        # Signal features
        for row in context.signals.value.head(5).iter_rows(named=True):
            features.append(row.get("probability", 0.5))
            features.append(1 if row.get("signal_type") == "rise" else -1)

        # Pad if fewer signals
        while len(features) < 15:
            features.append(0)

        return np.array(features[:15])

    def _map_action(
        self, action_idx: int, context: ModelContext
    ) -> StrategyDecision | None:
        """Map action index to StrategyDecision."""
        # 0: HOLD, 1: ENTER, 2: CLOSE_ALL
        if action_idx == 1 and context.signals.value.height > 0:
            row = context.signals.value.row(0, named=True)
            return StrategyDecision(
                action=StrategyAction.ENTER,
                pair=row["pair"],
                confidence=0.8,
            )
        elif action_idx == 2 and context.positions:
            return StrategyDecision(
                action=StrategyAction.CLOSE_ALL,
                pair=context.positions[0].pair,
                confidence=0.9,
            )
        return None
'''

CONFIDENCE_THRESHOLDS = '''\
entry_rule = ModelEntryRule(
    model=model,
    min_confidence=0.6,  # Only act on confident entries
)

exit_rule = ModelExitRule(
    model=model,
    min_confidence=0.7,  # Higher threshold for exits
)
'''

SIZE_SCALING = '''\
StrategyDecision(
    action=StrategyAction.ENTER,
    pair="BTCUSDT",
    size_multiplier=min(confidence, 1.5),  # Cap at 1.5x
    confidence=confidence,
)
'''

RISK_MANAGEMENT = '''\
def decide(self, context: ModelContext) -> list[StrategyDecision]:
    # Skip during high drawdown
    if context.metrics.get("max_drawdown", 0) > 0.15:
        return []

    # Limit position count
    if len(context.positions) >= 5:
        return []  # Or only return exit decisions

    # Your trading logic...
'''

META_DECISION = '''\
StrategyDecision(
    action=StrategyAction.ENTER,
    pair="BTCUSDT",
    confidence=0.85,
    meta={
        "model_version": "v2.1",
        "signal_type": "rise",
        "features": {"rsi": 35, "trend": "up"},
    },
)
'''

GUIDE_SNIPPETS = [QUICKSTART_MODEL, CREATE_RULES, RUN_BACKTEST, ENTRY_DECISION, EXIT_DECISION, CLOSE_ALL_DECISION, ACCESSING_CONTEXT, MODEL_EXIT_MANAGEMENT, HYBRID, TRAINING_EXPORT, READ_BARS, READ_TRADES, RL_MODEL, CONFIDENCE_THRESHOLDS, SIZE_SCALING, RISK_MANAGEMENT, META_DECISION]


# ----------------------------------------------------------------------------- helpers


def _namespace(**extra: Any) -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "guide_example"}
    ns.update(extra)
    return ns


def _run(snippet: str, ns: dict[str, Any]) -> dict[str, Any]:
    exec(compile(snippet, "<guide>", "exec"), ns)
    return ns


def _eval(snippet: str, ns: dict[str, Any]) -> Any:
    return eval(compile(snippet, "<guide>", "eval"), ns)


def _fragment_model(snippet: str, **extra: Any) -> type:
    """A model class whose `decide` is the guide's bare `def decide(self, context)` fragment."""
    ns = _run(snippet, _namespace(ModelContext=ModelContext, StrategyDecision=StrategyDecision,
                                  StrategyAction=StrategyAction, **extra))
    return type("FragmentModel", (), {"decide": ns["decide"]})


def _btc_market(n_bars: int = 120, seed: int = 3):
    """Synthetic BTCUSDT / ETHUSDT bars (renamed synthetic pairs) and their signals."""
    m = make_synthetic_market(seed=seed, n_pairs=2, n_bars=n_bars, signal_rate=0.08, horizon=5)
    names = {"PAIR0USDT": "BTCUSDT", "PAIR1USDT": "ETHUSDT"}
    ren = pl.col("pair").replace_strict(names)
    return m.raw_data.with_columns(ren), m.signals.with_columns(ren)


def _runner(entry_rules, exit_rules=(), *, fill_at="close", fee_rate=0.001, **kw) -> BacktestRunner:
    return BacktestRunner(
        strategy_id="guide",
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=fee_rate)),
        entry_rules=list(entry_rules),
        exit_rules=list(exit_rules),
        initial_capital=10_000.0,
        fill_at=fill_at,
        **kw,
    )


class _OnBars:
    """Returns `decisions[bar]` (callables get the context) and counts calls."""

    def __init__(self, decisions: dict[int, Any]) -> None:
        self.decisions = decisions
        self.calls = 0

    def decide(self, context):
        self.calls += 1
        d = self.decisions.get(context.bar_index, [])
        return d(context) if callable(d) else list(d)


def _close_of(raw: pl.DataFrame, pair: str, bar: int) -> float:
    return raw.filter(pl.col("pair") == pair)["close"][bar]


# ----------------------------------------------------------------------------- guide text


def test_guide_snippets_match_reference_guide_verbatim():
    if not GUIDE_PATH.exists():
        pytest.skip(f"guide not found at {GUIDE_PATH} (set SIGNALFLOW_GUIDE)")
    blocks = re.findall(r"```python\n(.*?)```", GUIDE_PATH.read_text(), re.S)
    assert blocks == GUIDE_SNIPPETS


# ----------------------------------------------------------------------------- quick start


def test_guide_quickstart_model_satisfies_strategy_model_protocol():
    ns = _run(QUICKSTART_MODEL, _namespace())
    assert isinstance(ns["MyModel"](), StrategyModel)


def test_guide_quickstart_backtest_runs_and_trades(small_market, accounting):
    ns = _namespace(raw_data=small_market.raw_data, signals=small_market.signals)
    for snippet in (QUICKSTART_MODEL, CREATE_RULES, RUN_BACKTEST):
        _run(snippet, ns)
    state, runner = ns["state"], ns["runner"]
    assert isinstance(state, StrategyState)
    assert runner.trades_df.height > 0
    assert runner.summary["model_calls"] == small_market.raw_data["timestamp"].n_unique()
    accounting(state, 10_000.0)


def test_guide_quickstart_rules_keep_documented_parameters():
    ns = _run(CREATE_RULES, _run(QUICKSTART_MODEL, _namespace()))
    entry, exit_ = ns["entry_rule"], ns["exit_rule"]
    assert (entry.base_position_size, entry.max_positions, entry.min_confidence) == (0.02, 5, 0.6)
    assert exit_.min_confidence == 0.7
    assert entry.model is ns["model"] and exit_.model is ns["model"]


# ----------------------------------------------------------------------------- decision types


def test_guide_entry_decision_opens_position_scaled_by_size_multiplier():
    raw, _ = _btc_market()
    decision = _eval(ENTRY_DECISION, _namespace(StrategyDecision=StrategyDecision, StrategyAction=StrategyAction))
    model = _OnBars({3: [decision]})
    runner = _runner([ModelEntryRule(model=model, base_position_size=0.02)])
    runner.run(raw, None)
    trades = runner.trades_df
    assert trades.height == 1
    price = _close_of(raw, "BTCUSDT", 3)
    assert trades["qty"][0] == pytest.approx(0.02 * 1.5 * 10_000.0 / price, rel=1e-12)
    assert trades["entry_price"][0] == price
    assert runner.result.state.portfolio.positions[trades["position_id"][0]].meta["reason"] == "high_confidence_signal"


def test_guide_exit_decision_unknown_position_id_skipped_and_run_continues():
    raw, _ = _btc_market()
    decision = _eval(EXIT_DECISION, _namespace(StrategyDecision=StrategyDecision, StrategyAction=StrategyAction))
    model = _OnBars({2: [decision]})
    runner = _runner([], [ModelExitRule(model=model)])
    runner.run(raw, None)
    assert runner.summary["decisions_skipped"] == 1
    assert runner.result.skipped[0].reason == "position_id 'pos_abc123' is unknown"
    assert runner.metrics_df.height == 120


def test_guide_exit_decision_for_open_position_closes_it_with_meta_reason():
    raw, _ = _btc_market()
    decision = _eval(EXIT_DECISION, _namespace(StrategyDecision=StrategyDecision, StrategyAction=StrategyAction))
    enter = StrategyDecision(action=StrategyAction.ENTER, pair="BTCUSDT")
    model = _OnBars({1: [enter], 4: lambda ctx: [replace(decision, position_id=ctx.positions[0].id)]})
    runner = _runner([ModelEntryRule(model=model)], [ModelExitRule(model=model)])
    runner.run(raw, None)
    trades = runner.trades_df
    assert trades.select("is_closed", "exit_reason", "exit_price").row(0) == (True, "take_profit", _close_of(raw, "BTCUSDT", 4))


def test_guide_close_all_decision_closes_every_position_of_the_pair_only():
    raw, _ = _btc_market()
    close_all = _eval(CLOSE_ALL_DECISION, _namespace(StrategyDecision=StrategyDecision, StrategyAction=StrategyAction))
    btc = StrategyDecision(action=StrategyAction.ENTER, pair="BTCUSDT")
    eth = StrategyDecision(action=StrategyAction.ENTER, pair="ETHUSDT")
    model = _OnBars({1: [btc, eth], 2: [btc], 5: [close_all]})
    runner = _runner([ModelEntryRule(model=model)], [ModelExitRule(model=model)])
    runner.run(raw, None)
    closed = runner.trades_df.filter(pl.col("is_closed"))
    assert sorted(closed["pair"].to_list()) == ["BTCUSDT", "BTCUSDT"]
    assert set(closed["exit_reason"].to_list()) == {"risk_off"}
    assert runner.trades_df.filter(~pl.col("is_closed"))["pair"].to_list() == ["ETHUSDT"]


# ----------------------------------------------------------------------------- fragments


def test_guide_accessing_context_fragment_runs_once_per_bar(small_market):
    calls: list[int] = []
    Model = _fragment_model(ACCESSING_CONTEXT)

    class Counting(Model):
        def decide(self, context):
            calls.append(context.bar_index)
            return super().decide(context)

    model = Counting()
    runner = _runner([ModelEntryRule(model=model)], [ModelExitRule(model=model)])
    runner.run(small_market.raw_data, small_market.signals)
    assert calls == list(range(small_market.raw_data["timestamp"].n_unique()))
    assert runner.trades_df.height == 0


def test_guide_model_exit_management_closes_at_model_thresholds(bars, sigs):
    raw = bars({"AAA": [100.0, 103.0, 106.0, 106.0], "BBB": [100.0, 99.0, 97.5, 97.5]})
    signals = sigs([("AAA", 0, "rise", 0.9), ("BBB", 0, "rise", 0.9)])
    model = _fragment_model(MODEL_EXIT_MANAGEMENT)()
    runner = _runner([SignalEntryRule(min_probability=0.5)], [ModelExitRule(model=model)])
    runner.run(raw, signals)
    got = runner.trades_df.sort("pair").select("pair", "exit_reason", "exit_price", "bars_held").rows()
    assert got == [("AAA", "model_take_profit", 106.0, 2), ("BBB", "model_stop_loss", 97.5, 2)]


def test_guide_risk_management_fragment_runs_in_backtest(small_market):
    model = _fragment_model(RISK_MANAGEMENT)()
    runner = _runner([ModelEntryRule(model=model)], [ModelExitRule(model=model)])
    runner.run(small_market.raw_data, small_market.signals)
    assert runner.summary["model_calls"] == runner.metrics_df.height
    assert runner.trades_df.height == 0


# ----------------------------------------------------------------------------- hybrid


class _GuideHybridModel:
    """The Quick Start entries plus the "Model-Based Exit Management" exits, as one model."""

    def __init__(self) -> None:
        entry_ns = _run(QUICKSTART_MODEL, _namespace())
        self._entries = entry_ns["MyModel"]()
        self._exits = _fragment_model(MODEL_EXIT_MANAGEMENT)()

    def decide(self, context):
        return self._exits.decide(context) + self._entries.decide(context)


def _hybrid_runner(*, fill_at: str = "close", intrabar: bool = False) -> BacktestRunner:
    model = _GuideHybridModel()
    ns = _namespace(
        broker=BacktestBroker(executor=VirtualSpotExecutor(fee_rate=0.001)),
        model=model,
        ModelEntryRule=ModelEntryRule,
        ModelExitRule=ModelExitRule,
        BacktestRunner=BacktestRunner,
    )
    runner = _run(HYBRID, ns)["runner"]
    runner.fill_at = type(runner.fill_at)(fill_at)
    runner.exit_rules[1].intrabar = intrabar
    return runner


def test_guide_hybrid_snippet_builds_model_exit_then_tp_sl():
    runner = _hybrid_runner()
    assert [type(r).__name__ for r in runner.exit_rules] == ["ModelExitRule", "TakeProfitStopLossExit"]
    assert (runner.exit_rules[1].take_profit_pct, runner.exit_rules[1].stop_loss_pct) == (0.05, 0.03)


def test_guide_hybrid_model_exit_first_tp_sl_catches_remaining(bars, sigs):
    # AAA +6% at bar 2: both rules want it, the model (first) closes it.
    # BBB exactly +5% at bar 2: the model's `pnl_pct > 0.05` is False, TP/SL's `>= 5%` catches it.
    raw = bars({"AAA": [100.0, 103.0, 106.0], "BBB": [100.0, 102.0, 105.0]})
    signals = sigs([("AAA", 0, "rise", 0.9), ("BBB", 0, "rise", 0.9)])
    runner = _hybrid_runner()
    runner.run(raw, signals)
    got = runner.trades_df.sort("pair").select("pair", "exit_reason", "exit_price").rows()
    assert got == [("AAA", "model_take_profit", 106.0), ("BBB", "take_profit", 105.0)]


@pytest.mark.parametrize(
    ("fill_at", "path", "exit_bar"),
    [("close", [100.0, 103.0, 106.0, 106.0], 2), ("next_open", [100.0, 100.0, 106.0, 106.0], 3)],
)
def test_guide_hybrid_both_rules_want_same_position_closed_once_no_phantom_cash(
    bars, sigs, accounting, fill_at, path, exit_bar
):
    raw = bars({"AAA": path})
    signals = sigs([("AAA", 0, "rise", 0.9)])
    runner = _hybrid_runner(fill_at=fill_at)
    state = runner.run(raw, signals)
    exits = [f for f in runner.broker.fills if not f.is_entry]
    assert [(f.position_id, f.bar, f.reason) for f in exits] == [("pos_000001", exit_bar, "model_take_profit")]
    assert runner.summary["orders_rejected"] == 0
    # qty = 0.02 * 10_000 / 100 = 2; entry fee 0.2; exit 2 * 106 = 212, fee 0.212
    assert state.portfolio.cash == pytest.approx(10_000.0 - 200.0 - 0.2 + 212.0 - 0.212, rel=1e-12)
    assert runner.metrics_df["equity"][-1] == pytest.approx(10_011.588, rel=1e-12)
    accounting(state, 10_000.0)


def test_guide_hybrid_intrabar_stop_catches_position_model_keeps(bars, sigs):
    # bar 1 dips to 96.5 (-3.5%) intrabar but closes at 99 (-1%): the model keeps it, TP/SL stops at 97.
    raw = bars({"AAA": [100.0, (100.0, 100.0, 96.5, 99.0), 99.0]})
    signals = sigs([("AAA", 0, "rise", 0.9)])
    runner = _hybrid_runner(intrabar=True)
    runner.run(raw, signals)
    assert runner.trades_df.select("exit_reason", "exit_price").row(0) == ("stop_loss", pytest.approx(97.0, rel=1e-12))


# ----------------------------------------------------------------------------- export


def _driving_timestamps(ns: dict[str, Any], runner: BacktestRunner, raw, signals):
    """`timestamps` for the guide's export loop: each step processes one bar of a stepped
    run ("# ... process bar ...") and exposes `signals`/`state` to the loop body; at the
    end it exposes a closed `position`, `exit_time` and `exit_price` for the line after it."""
    run = runner.start(raw, signals)
    closed = []
    while (ctx := run.begin_bar()) is not None:
        report = run.end_bar()
        closed.extend(report.closed)
        ns["signals"], ns["state"] = ctx.signals, run.state
        yield ctx.timestamp
    run.finish()
    ns["position"] = closed[0]
    ns["exit_time"], ns["exit_price"] = closed[0].exit_time, closed[0].exit_price


def test_guide_training_export_and_read_snippets_run(bars, sigs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = bars({"AAA": [100.0, 103.0, 106.0, 106.0], "BBB": [50.0, 50.0, 50.0, 50.0]})
    signals = sigs([("AAA", 0, "rise", 0.9), ("BBB", 0, "rise", 0.8), ("BBB", 1, "fall", 0.6)])
    ns = _namespace()
    ns["timestamps"] = _driving_timestamps(ns, _hybrid_runner(), raw, signals)
    _run(TRAINING_EXPORT, ns)
    _run(READ_BARS, ns)
    _run(READ_TRADES, ns)
    bars_df, trades_df = ns["bars"], ns["trades"]
    assert bars_df.schema == BARS_SCHEMA and trades_df.schema == TRADES_SCHEMA
    assert bars_df.height == 4 + 1  # one row per bar, bar 0 has two signals
    assert trades_df.select("pair", "exit_reason", "exit_price").rows() == [("AAA", "take_profit", 106.0)]


def test_guide_export_with_runner_exporter_writes_every_bar_and_close(small_market, tmp_path):
    exporter = BacktestExporter()
    ns = _run(QUICKSTART_MODEL, _namespace())
    model = ns["MyModel"]()
    runner = _runner([ModelEntryRule(model=model, base_position_size=0.02)],
                     [ModelExitRule(model=model), TakeProfitStopLossExit(take_profit_pct=0.01, stop_loss_pct=0.01)],
                     exporter=exporter)
    runner.run(small_market.raw_data, small_market.signals)
    paths = exporter.finalize(tmp_path / "training_data")
    bars_df, trades_df = pl.read_parquet(paths["bars"]), pl.read_parquet(paths["trades"])
    assert bars_df["timestamp"].n_unique() == runner.metrics_df.height
    closed = runner.trades_df.filter(pl.col("is_closed"))
    assert closed.height > 0
    assert sorted(trades_df["position_id"].to_list()) == sorted(closed["position_id"].to_list())


# ----------------------------------------------------------------------------- RL example


class _StubQNet:
    """`predict(features)`: ENTER when a signal is present, CLOSE_ALL when holding and no signal."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def predict(self, features):
        self.inputs.append(features)
        has_signal = features[3] > 0
        holding = features[2] > 0
        return np.array([0.1, 1.0 if has_signal else 0.0, 0.5 if holding and not has_signal else 0.0])


def _rl_model_class():
    ns = _run(RL_MODEL, _namespace())

    class StubRLTradingModel(ns["RLTradingModel"]):
        def _load_model(self, model_path: str):
            assert model_path == "dqn.zip"
            return _StubQNet()

    return StubRLTradingModel


def test_guide_rl_model_example_runs_in_backtest(small_market, accounting):
    model = _rl_model_class()("dqn.zip", epsilon=0.0)
    runner = _runner([ModelEntryRule(model=model, base_position_size=0.05)], [ModelExitRule(model=model)])
    state = runner.run(small_market.raw_data, small_market.signals)
    n_bars = runner.metrics_df.height
    assert len(model.model.inputs) == n_bars
    assert all(f.shape == (15,) for f in model.model.inputs)
    closed = runner.trades_df.filter(pl.col("is_closed"))
    assert closed.height > 0
    assert set(closed["exit_reason"].to_list()) == {"model_close_all"}
    accounting(state, 10_000.0)


# ----------------------------------------------------------------------------- best practices


def test_guide_confidence_thresholds_snippet_runs_in_backtest(small_market, accounting):
    ns = _run(QUICKSTART_MODEL, _namespace(ModelEntryRule=ModelEntryRule, ModelExitRule=ModelExitRule))
    ns["model"] = ns["MyModel"]()
    _run(CONFIDENCE_THRESHOLDS, ns)
    assert (ns["entry_rule"].min_confidence, ns["exit_rule"].min_confidence) == (0.6, 0.7)
    runner = _runner([ns["entry_rule"]], [ns["exit_rule"]])
    state = runner.run(small_market.raw_data, small_market.signals)
    assert runner.trades_df.height > 0
    accounting(state, 10_000.0)


def test_guide_size_scaling_decision_sizes_by_confidence():
    raw, _ = _btc_market()
    decision = _eval(SIZE_SCALING, _namespace(StrategyDecision=StrategyDecision, StrategyAction=StrategyAction,
                                              confidence=0.9))
    runner = _runner([ModelEntryRule(model=_OnBars({2: [decision]}), base_position_size=0.1)])
    runner.run(raw, None)
    assert runner.trades_df["qty"][0] == pytest.approx(0.1 * 0.9 * 10_000.0 / _close_of(raw, "BTCUSDT", 2), rel=1e-12)


def test_guide_meta_decision_meta_kept_on_position():
    raw, _ = _btc_market()
    decision = _eval(META_DECISION, _namespace(StrategyDecision=StrategyDecision, StrategyAction=StrategyAction))
    runner = _runner([ModelEntryRule(model=_OnBars({2: [decision]}))])
    state = runner.run(raw, None)
    (position,) = state.portfolio.positions.values()
    assert position.meta["model_version"] == "v2.1"
    assert position.meta["features"] == {"rsi": 35, "trend": "up"}
