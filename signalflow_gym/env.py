"""`SignalFlowEnv`: a Gymnasium environment that trades through the real `BacktestRunner`."""

from __future__ import annotations

import dataclasses
import warnings
from datetime import datetime
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from signalflow.core.bar_metrics import metric_reader
from signalflow.core.errors import ConfigError, RunStateError
from signalflow.strategy.model.context import ModelContext, PendingOrders, context_with_pending
from signalflow.data.market import MarketData
from signalflow.strategy.runner.result import BacktestResult
from signalflow.strategy.runner.run import BacktestRun
from signalflow_gym.actions import make_action_mapper
from signalflow_gym.augment import mirror_market
from signalflow_gym.config import EnvConfig, build_runner
from signalflow_gym.data import default_market
from signalflow_gym.features import FeatureBuilder
from signalflow_gym.rewards import make_reward

__all__ = ["SignalFlowEnv"]

_RESET_OPTIONS = ("start", "length")


class _AgentModel:
    """The model whose decisions the environment's actions provide.

    Its rules (`ModelExitRule` / `ModelEntryRule` from `build_runner`) always find
    this bar's decisions in the cache (`run.put_decisions`), so `decide` is never
    called; if it were, the wiring would be broken, hence the error.
    """

    def decide(self, context: ModelContext) -> list:
        raise RunStateError(
            f"SignalFlowEnv's agent was asked to decide at bar {context.bar_index}; its decisions must come "
            "from env.step(action) (run.put_decisions). Do not drive the env's run directly."
        )


#: Summary figures put in the last step's ``info["trading"]`` of every episode.
EPISODE_TRADING_FIGURES = ("total_return", "sharpe", "max_drawdown", "n_trades", "fees")

def _trading_figures(run: Any) -> dict[str, float]:
    """The finished episode's `EPISODE_TRADING_FIGURES` (its last step's ``info["trading"]``)."""
    summary = run.finish().summary
    return {name: float(summary[name]) for name in EPISODE_TRADING_FIGURES}


#: What each step reads from the bar's metrics (one call each, see `metric_reader`).
_read_termination_metrics = metric_reader("equity", "current_drawdown")
_read_info_metrics = metric_reader("equity", "cash", "open_positions")


class SignalFlowEnv(gym.Env):
    """Trade signals through the SignalFlow backtester, one bar (all pairs) per step.

    ## Description

    A portfolio trades a set of pairs from a stream of signals (a detector's or a
    model's "rise"/"fall" calls with a probability). At each bar that needs a decision
    the agent sees the account, the bar's top-ranked signals and its open positions,
    and chooses to hold, enter a signal or close positions; fees, slippage, sizing and
    the take-profit / stop-loss fallback are those of the backtest. Each step, the
    action becomes `StrategyDecision` objects that enter the bar's decision cache; the
    same `ModelExitRule`, optional `TakeProfitStopLossExit`, `ModelEntryRule` and
    `BacktestBroker` as in a backtest (`build_runner`) turn them into fills; then the
    run advances to the next bar. An episode is a stepped `BacktestRun`;
    `episode_result()` is its `BacktestResult`, and a policy trained here runs
    unchanged in a backtest through `signalflow_gym.RLTradingModel`.

    ```python
    import gymnasium as gym
    import signalflow_gym

    gym.register_envs(signalflow_gym)   # registers SignalFlow-v0
    env = gym.make("SignalFlow-v0", config={"episode": {"length": 500}})
    obs, info = env.reset(seed=0)
    action = env.action_space.sample(mask=info["action_mask"].astype("int8"))  # a valid action
    obs, reward, terminated, truncated, info = env.step(action)
    ```

    ## Action Space

    `Discrete(n)`, from `config.actions.mapper` (see `signalflow_gym.actions`):

    - `"simple"` (n = 3): 0 HOLD, 1 ENTER the top signal by probability,
      2 CLOSE_ALL (every open position of every tradable pair).
    - `"per_signal"` (n = K + M + 2): 0 HOLD, 1..K ENTER the k-th ranked signal,
      K+1..K+M CLOSE the m-th open position (oldest first), K+M+1 CLOSE_ALL;
      K = `features.top_k_signals`, M = `features.max_position_features`.

    Invalid actions (enter with no signal, a "fall" signal without `allow_shorts`,
    probability below `min_confidence`, no free slot once the orders pending for a next
    open fill; close with nothing open, a pair with no bar now, or a position whose exit
    is already pending) are masked by `action_masks()` (for sb3-contrib's `MaskablePPO`)
    and `info["action_mask"]`: a valid action is one the rules place an order for, as
    they see the bar when the agent decides (`context.pending` included; a slot a TP/SL
    exit frees later on the same bar is not offered). An invalid action taken anyway is
    a no-op (HOLD), never an error. An action must be an index of the space, as
    `Discrete.contains` has it: a Python int or a numpy integer (scalar, 0-d or
    shape-(1,) array, as SB3 gives); a float (even 1.0), string, bool or an index out of
    range raises `InvalidActionError` (a `ValueError`) naming the space and the value.

    ## Observation Space

    `Box(float32)` of length 6 + 3K + 3M + R (R = len(`features.runtime_features`)),
    with finite bounds; values are clipped into them (`FeatureBuilder`):

    | index           | feature                      | min   | max  |
    |-----------------|------------------------------|-------|------|
    | 0               | equity / initial - 1         | -1    | 10   |
    | 1               | cash / equity                | 0     | 2    |
    | 2               | current drawdown             | 0     | 1    |
    | 3               | max drawdown                 | 0     | 1    |
    | 4               | open positions / max         | 0     | 1    |
    | 5               | exposure (gross / equity)    | 0     | 10   |
    | 6+3k            | signal k probability         | 0     | 1    |
    | 7+3k            | signal k direction (+1/-1/0) | -1    | 1    |
    | 8+3k            | signal k pair already held   | 0     | 1    |
    | 6+3K+3m         | position m unrealised return | -1    | 10   |
    | 7+3K+3m         | position m bars held / scale | 0     | 1    |
    | 8+3K+3m         | position m side (+1/-1)      | -1    | 1    |
    | 6+3K+3M+r       | runtime feature r            | -clip | clip |

    Absent signals / positions are zeros. `feature_names` names every index.
    The observation of bar t holds only what is known at the close of t.

    ## Rewards

    `reward(prev_metrics, metrics)` where `prev_metrics` are the marked, pre-trade
    metrics of the bar acted on and `metrics` those of the next observation (on the
    last step: the post-trade metrics of the last bar). Default `"log_return"`:
    ``log(equity_t+1 / equity_t)``, net of fees and slippage; an episode's rewards
    sum to ``log(final equity / initial capital)``. Also `"pnl"` (equity change /
    initial capital) and `"differential_sharpe"` (Moody & Saffell, `dsr_eta`); all
    times `reward.scale`, minus `reward.drawdown_penalty` x any increase of the
    current drawdown. `reward_fn=callable(prev_metrics, metrics)` replaces it.

    ## Starting State

    A fresh portfolio (`broker.initial_capital` in cash, nothing open) at the first
    bar of a window of `episode.length` bars (None: to the end of the data). The
    window starts at a bar drawn uniformly from `self.np_random` in
    ``[episode.warmup_bars, n_bars - length]`` when `episode.random_start`, else at
    `episode.warmup_bars`. ``reset(options={"start": index | datetime, "length": n | None})``
    sets the window explicitly (evaluation). With `skip_idle_bars`, bars with no
    signal, no open position and no pending order are processed without a step.

    Training-time augmentation (`augment.mirror` = q > 0): a randomly started episode
    runs, with probability q (one draw from `self.np_random` per reset, after the start),
    on the mirrored market (`signalflow_gym.augment.mirror_market`: prices reflected about
    each pair's first open, high and low swapped, "rise" <-> "fall"). An episode with a
    fixed start (`episode.random_start: false`, or a `start` reset option: validation
    and evaluation) is never mirrored; backtests (`build_runner`, the bridge) never are.
    ``info["mirrored"]`` of `reset` says which market the episode runs on, and
    `episode_market` is that market (`market` is always the original).

    ## Episode End

    - `terminated`: at the close of a bar, equity < `termination.ruin_fraction` x
      initial capital, or the current drawdown >= `termination.max_drawdown`.
    - `truncated`: the window's last bar has been processed.
    Never both: termination wins. Open positions stay open at the end (they appear in
    `episode_result().trades_df` marked at the last close).

    ## Arguments

    - `raw_data`, `signals`: long-format OHLCV and signals (polars DataFrames or
      containers, as `BacktestRunner.run`); both None: the embedded synthetic market
      (`config.data`).
    - `config`: an `EnvConfig`, a dict, a YAML/JSON path or None (defaults).
    - `render_mode`: None, `"ansi"` (one status line) or `"rgb_array"` (prices of
      traded pairs with entries/exits, and the equity curve).
    - `reward_fn`: optional ``(prev_metrics, metrics) -> float``.
    - `market`: a prebuilt `MarketData` (shared by many envs; excludes `raw_data`).

    ## Info

    `equity`, `cash`, `positions` (open count), `decisions` (this step's),
    `fills`, `rejected`, `skipped`, `closed` (positions closed this step),
    `idle_bars`, `action_mask` (for the next observation), `bar`, `timestamp`;
    `reset` gives `equity`, `cash`, `positions`, `action_mask`, `bar`, `timestamp`,
    `window` (start, end) and `mirrored` (see Starting State).

    ## Vectorised use

    Picklable: a pickle holds the config, the validated frames (or the embedded
    market's parameters) and the RNG; an episode in progress is not carried over.
    With `AsyncVectorEnv` / `SubprocVecEnv` use the "spawn" (or "forkserver") start
    method: polars and torch thread pools do not survive `fork` (workers hang).

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        raw_data: Any = None,
        signals: Any = None,
        config: EnvConfig | Mapping[str, Any] | str | None = None,
        *,
        render_mode: str | None = None,
        reward_fn: Any = None,
        market: MarketData | None = None,
    ) -> None:
        super().__init__()
        self.config = cfg = EnvConfig.coerce(config)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(f"`render_mode` must be None, 'ansi' or 'rgb_array', was {render_mode!r}")
        self.render_mode = render_mode
        if market is not None:
            if raw_data is not None or signals is not None:
                raise ConfigError("pass either `market` or `raw_data`/`signals`, not both")
            if not isinstance(market, MarketData):
                raise ConfigError(f"`market` must be a MarketData (MarketData.build(raw_data, signals)), was {type(market).__name__}")
        elif raw_data is not None:
            market = MarketData.build(raw_data, signals)
        elif signals is not None:
            raise ConfigError("`signals` were given without `raw_data`; pass the OHLCV bars they belong to")
        embedded = market is None and raw_data is None  # the synthetic market of `cfg.data` (rebuilt when unpickled)
        if embedded:
            market = default_market(cfg)
        self._embedded = embedded
        self._reward_fn_arg = reward_fn
        self.market = market
        self._check_window(cfg, market)
        if not market.signals.height:
            warnings.warn(
                "SignalFlowEnv: the market has no signals, so no ENTER is ever valid and the agent can only hold; "
                "pass `signals=` (e.g. from signalflow.detector.MomentumZScoreDetector, the default the CLI uses "
                "for a bars file without signals)", UserWarning, stacklevel=2)

        self._agent = _AgentModel()
        self.runner = build_runner(cfg, self._agent, strategy_id="signalflow_gym")
        self.features = FeatureBuilder(cfg.features, cfg.sizing, market.pairs)
        self.mapper = make_action_mapper(cfg)
        self.observation_space = self.features.observation_space
        self.action_space = self.mapper.action_space
        self.feature_names = self.features.feature_names
        self.action_names = self.mapper.action_names
        self.initial_capital = cfg.broker.initial_capital
        self._reward = make_reward(cfg.reward, initial_capital=self.initial_capital, reward_fn=reward_fn)
        self._reward_call = getattr(self._reward, "fn", self._reward)
        self._ruin_equity = cfg.termination.ruin_fraction * self.initial_capital
        self._max_dd = cfg.termination.max_drawdown
        self._hold_only = np.zeros(self.action_space.n, dtype=bool)
        self._hold_only[0] = True

        self._mirror_probability = cfg.augment.mirror
        self._mirrored_market: MarketData | None = None  # built at the first mirrored episode
        self._episode_market = market
        self._mirrored = False

        self._run: BacktestRun | None = None
        self._ctx: ModelContext | None = None
        self._last_ctx: ModelContext | None = None
        self._prev_metrics: dict[str, float] = {}
        self._mask = self._hold_only.copy()
        self._over = True
        self._empty = False
        self._steps = 0

    # -- helpers -------------------------------------------------------------------------------------
    @staticmethod
    def _check_window(cfg: EnvConfig, market: MarketData) -> None:
        n, w, length = market.n_bars, cfg.episode.warmup_bars, cfg.episode.length
        if w >= n:
            raise ConfigError(f"`episode.warmup_bars` must be < the number of bars ({n}), was {w}; use fewer warm-up bars")
        if length is not None and w + length > n:
            raise ConfigError(
                f"`episode.length` must be <= bars after warm-up ({n - w} = {n} bars - {w} warm-up), was {length}; "
                "use a shorter episode, fewer warm-up bars, more data, or null (to the end)"
            )

    def _bar_at(self, when: datetime) -> int:
        """The first bar at or after `when` (reset option `start`); refused outside the data's span."""
        market = self.market
        if not market.covers(when):
            first, last = market.datetime_at(0), market.datetime_at(market.n_bars - 1)
            raise ConfigError(
                f"reset option `start` must be a datetime within the data, from {first} to {last}, was {when}; "
                "pick a time inside that span (or give a bar index)"
            )
        return self.market.index_of(when)

    def _window(self, options: Mapping[str, Any] | None) -> tuple[int, int]:
        n = self.market.n_bars
        ep = self.config.episode
        opts = dict(options or {})
        for key in opts:
            if key not in _RESET_OPTIONS:
                raise ConfigError(f"unknown reset option `{key}`; valid options: `start`, `length`")
        length = opts.get("length", ep.length)
        if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1):
            raise ConfigError(f"reset option `length` must be a positive integer or None, was {length!r}")
        if "start" in opts:
            start = opts["start"]
            if isinstance(start, datetime):
                start = self._bar_at(start)
            elif isinstance(start, bool) or not isinstance(start, (int, np.integer)):
                raise ConfigError(f"reset option `start` must be a bar index or a datetime, was {start!r}")
            start = int(start)
            if not 0 <= start < n:
                raise ConfigError(f"reset option `start` must be a bar index in [0, {n}), was {start}")
        elif ep.random_start:
            hi = n - 1 if length is None else n - int(length)
            lo = ep.warmup_bars
            if hi < lo:
                raise ConfigError(f"reset option `length` must be <= {n - lo} (bars after warm-up), was {length}")
            start = lo + int(self.np_random.integers(0, hi - lo + 1))
        else:
            start = ep.warmup_bars
        end = n if length is None else start + int(length)
        if end > n:
            raise ConfigError(
                f"window [{start}, {end}) must end within the data ({n} bars); use an earlier `start` or a shorter `length`"
            )
        return start, end

    def _terminal_context(self, metrics: dict[str, float]) -> ModelContext:
        """A context for the observation after the last processed bar (post-trade state)."""
        run = self._run
        last = self._last_ctx
        if last is None:  # nothing to decide in the whole window (skip_idle_bars)
            t = max(run.end - 1, run.start)
            m = self._episode_market
            return ModelContext(
                timestamp=m.datetime_at(t),
                signals=m.signals_at(t),
                prices=m.prices_at(t),
                positions=run.state.portfolio.open_positions(),
                metrics=metrics,
                runtime=run.state.runtime,
                bar_index=t,
                pending=PendingOrders.of(run.state.portfolio),
            )
        portfolio = run.state.portfolio
        return dataclasses.replace(
            last, positions=portfolio.open_positions(), metrics=metrics, pending=PendingOrders.of(portfolio)
        )

    def _draw_mirrored(self, options: Mapping[str, Any] | None) -> bool:
        """Whether this episode runs on the mirrored market (`augment.mirror`; random starts only).

        No draw is made when mirroring is off or the start is fixed, so the episodes of such
        an env are the ones it had before the option existed.
        """
        q = self._mirror_probability
        if q <= 0.0 or not self.config.episode.random_start or "start" in (options or {}):
            return False
        return bool(self.np_random.random() < q)

    @property
    def mirrored_market(self) -> MarketData:
        """The mirror of `market` (`signalflow_gym.augment.mirror_market`), built once on first use."""
        if self._mirrored_market is None:
            self._mirrored_market = mirror_market(self.market)
        return self._mirrored_market

    @property
    def episode_market(self) -> MarketData:
        """The market the current episode runs on: `market`, or `mirrored_market` (`augment.mirror`)."""
        return self._episode_market

    @property
    def mirrored(self) -> bool:
        """Whether the current episode runs on the mirrored market."""
        return self._mirrored

    def _begin_bar(self, run: BacktestRun) -> ModelContext | None:
        """The run's next bar, its context carrying the orders pending for a next open
        (as `decisions_for` hands it to a model, so masks agree with the bridge's)."""
        ctx = run.begin_bar()
        return None if ctx is None else context_with_pending(ctx, run.state.portfolio)

    # -- Gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        start, end = self._window(options)
        self._mirrored = self._draw_mirrored(options)
        market = self._episode_market = self.mirrored_market if self._mirrored else self.market
        if self._run is not None:
            self._run.close()  # release the previous episode's run now, not at the next GC
        run = self._run = self.runner.start(market, start=start, end=end)
        reset = getattr(self._reward, "reset", None)
        if callable(reset):
            reset()
        self._steps = 0
        self._last_ctx = None
        ctx = self._ctx = self._begin_bar(run)
        if ctx is None:
            self._empty = True
            self._over = False
            metrics = run.state.metrics
            self._prev_metrics = metrics
            self._mask = self._hold_only.copy()
            obs = self.features.build(self._terminal_context(metrics))
        else:
            self._empty = False
            self._over = False
            self._last_ctx = ctx
            self._prev_metrics = ctx.metrics
            self._mask = self.mapper.action_masks(ctx)
            obs = self.features.build(ctx)
        info = {
            "equity": self._prev_metrics["equity"],
            "cash": self._prev_metrics["cash"],
            "positions": 0,
            "action_mask": self._mask.copy(),
            "bar": ctx.bar_index if ctx is not None else start,
            "timestamp": ctx.timestamp if ctx is not None else self.market.datetime_at(start),
            "window": (start, end),
            "mirrored": self._mirrored,
        }
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        ctx = self._ctx
        run = self._run
        if ctx is None:
            if run is None:
                raise RunStateError("call reset() before step()")
            if self._empty and not self._over:
                self._over = True
                metrics = run.state.metrics
                obs = self.features.build(self._terminal_context(metrics))
                info = self._info(metrics, [], None, self._hold_only.copy(), None)
                info["trading"] = _trading_figures(run)
                return obs, 0.0, False, True, info
            raise RunStateError("the episode is over (terminated or truncated); call reset() to start a new one")
        decisions = self.mapper.to_decisions(action, ctx)
        run.put_decisions(self._agent, decisions)
        report = run.end_bar()
        post = report.metrics
        self._steps += 1
        post_equity, post_drawdown = _read_termination_metrics(post)
        terminated = post_equity < self._ruin_equity or (self._max_dd is not None and post_drawdown >= self._max_dd)
        if terminated:
            run.stop()  # end the run here: finish() will not process later bars
            nxt = None
        else:
            nxt = self._begin_bar(run)
        if nxt is not None:
            metrics = nxt.metrics
            self._ctx = self._last_ctx = nxt
            mask = self._mask = self.mapper.action_masks(nxt)
            obs = self.features.build(nxt)
        else:
            metrics = run.state.metrics
            self._ctx = None
            self._over = True
            mask = self._mask = self._hold_only.copy()
            obs = self.features.build(self._terminal_context(metrics))
        reward = float(self._reward_call(self._prev_metrics, metrics))
        self._prev_metrics = metrics
        info = self._info(metrics, decisions, report, mask, nxt)
        if nxt is None:  # the episode is over: its trading figures (SB3 loggers, e.g. TensorBoard)
            info["trading"] = _trading_figures(run)
        return obs, reward, terminated, nxt is None and not terminated, info

    def _info(self, metrics: dict[str, float], decisions: list, report: Any, mask: np.ndarray, nxt: ModelContext | None) -> dict[str, Any]:
        if nxt is not None:
            bar, ts = nxt.bar_index, nxt.timestamp
        elif report is not None:
            bar, ts = report.bar, report.timestamp
        else:
            bar, ts = self._run.start, self.market.datetime_at(self._run.start)
        equity, cash, n_open = _read_info_metrics(metrics)
        return {
            "equity": equity,
            "cash": cash,
            "positions": int(n_open),
            "decisions": decisions,
            "fills": report.fills if report is not None else [],
            "rejected": report.rejected if report is not None else [],
            "skipped": report.skipped if report is not None else [],
            "closed": report.closed if report is not None else [],
            "idle_bars": report.idle_bars if report is not None else 0,
            "action_mask": mask.copy(),
            "bar": bar,
            "timestamp": ts,
        }

    def action_masks(self) -> np.ndarray:
        """Valid actions for the current observation (sb3-contrib `MaskablePPO` calls this)."""
        return self._mask.copy()

    # -- results and rendering ------------------------------------------------------------------------
    def episode_result(self) -> BacktestResult:
        """The finished episode's `BacktestResult` (trades_df, metrics_df, summary)."""
        run = self._run
        if run is None:
            raise RunStateError("no episode has run yet; call reset() and step() until it ends")
        if not self._over:
            raise RunStateError(
                "the episode is still running; step until terminated or truncated before episode_result()"
            )
        return run.finish()

    @property
    def run(self) -> BacktestRun | None:
        """The current episode's stepped `BacktestRun` (read it; do not step it)."""
        return self._run

    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array' to the env")
            return None
        if self._run is None:
            raise RunStateError("call reset() before render()")
        if self.render_mode == "ansi":
            return self._render_ansi()
        return self._render_rgb()

    def _render_ansi(self) -> str:
        run = self._run
        m = self._prev_metrics
        ctx = self._ctx or self._last_ctx
        bar = ctx.bar_index if ctx is not None else run.start
        ts = ctx.timestamp if ctx is not None else self.market.datetime_at(run.start)
        n_sig = len(ctx.signals.ranked()) if ctx is not None else 0
        return (
            f"step {self._steps:>6} bar {bar:>7} {ts:%Y-%m-%d %H:%M} equity {m['equity']:>12.2f} "
            f"return {m['total_return'] * 100:+7.2f}% dd {m['current_drawdown'] * 100:5.2f}% "
            f"open {int(m['open_positions'])} trades {int(m['trades_closed'])} signals {n_sig}"
            f"{' [done]' if self._over else ''}\n"
        )

    def _render_rgb(self) -> np.ndarray:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        run = self._run
        market = self._episode_market
        bars = run.bars_done
        lo, hi = run.start, run.start + max(bars, 1)
        fig = Figure(figsize=(8, 5), dpi=80)
        canvas = FigureCanvasAgg(fig)
        ax_p, ax_e = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
        positions = list(run.state.portfolio.positions.values())
        traded = sorted({p.pair for p in positions}) or list(market.pairs[:1])
        x = np.arange(lo, hi)
        for pair in traded:
            j = market.pair_index[pair]
            base = market.mark[lo, j] if np.isfinite(market.mark[lo, j]) else 1.0
            ax_p.plot(x, market.mark[lo:hi, j] / base, lw=0.8, label=pair)
            for p in positions:
                if p.pair != pair:
                    continue
                if lo <= p.entry_bar < hi:
                    ax_p.scatter([p.entry_bar], [p.entry_price / base], marker="^" if p.side > 0 else "v", c="g", s=20)
                if p.exit_bar is not None and lo <= p.exit_bar < hi:
                    ax_p.scatter([p.exit_bar], [p.exit_price / base], marker="x", c="r", s=20)
        ax_p.set_ylabel("price / first")
        ax_p.legend(loc="upper left", fontsize=7)
        equity = run.metrics_frame()["equity"].to_numpy() if bars else np.array([self.initial_capital])
        ax_e.plot(np.arange(lo, lo + len(equity)), equity, c="k", lw=0.8)
        ax_e.set_ylabel("equity")
        ax_e.set_xlabel("bar")
        fig.tight_layout()
        canvas.draw()
        img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        return img

    def close(self) -> None:
        if self._run is not None:
            self._run.close()
        super().close()

    # -- pickling ---------------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Configuration, data (the validated frames, or the embedded market's parameters) and RNG.

        An episode in progress is not carried over: call `reset()` on the copy. Pickling the
        frames rather than the precomputed `MarketData` keeps the payload small for
        `SubprocVecEnv` / `AsyncVectorEnv`; the copy rebuilds its arrays once.
        """
        data = None if self._embedded else (self.market.raw_data, self.market.signals)
        return {
            "config": self.config,
            "render_mode": self.render_mode,
            "reward_fn": self._reward_fn_arg,
            "data": data,
            "np_random": self._np_random,
            "np_random_seed": getattr(self, "_np_random_seed", None),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        data = state["data"]
        raw, sigs = (None, None) if data is None else data
        self.__init__(raw, sigs, config=state["config"], render_mode=state["render_mode"], reward_fn=state["reward_fn"])
        self._np_random = state["np_random"]
        if state["np_random_seed"] is not None:
            self._np_random_seed = state["np_random_seed"]
