"""Tests of signalflow.strategy.exporter: fixed schemas, atomic parquet, BacktestExporter."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest

from signalflow.core import ConfigError, ExitReason, ExportError, Fill, OrderSide, Position, PositionType, Signals, Trade
from signalflow.strategy.exporter import (
    BARS_SCHEMA,
    TRADES_SCHEMA,
    BacktestExporter,
    trades_frame,
    write_parquet_atomic,
)
from signalflow.strategy.metrics import METRIC_NAMES

T0 = datetime(2024, 1, 1)


def _ts(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


def _metrics(equity: float = 1000.0) -> dict[str, float]:
    m = dict.fromkeys(METRIC_NAMES, 0.0)
    m["equity"] = equity
    return m


def _position(pid: str = "p1", *, closed: bool = False, side: PositionType = PositionType.LONG) -> Position:
    pos = Position(
        id=pid,
        pair="BTCUSDT",
        position_type=side,
        qty=2.0,
        entry_price=100.0,
        entry_time=_ts(1),
        last_price=100.0,
        last_time=_ts(1),
        entry_bar=1,
        fees_paid=0.2,
    )
    if closed:
        pos.apply(Fill(pair=pos.pair, side=OrderSide.SELL if side is PositionType.LONG else OrderSide.BUY,
                       position_type=side, qty=pos.qty, price=110.0, fee=0.22, time=_ts(4), bar=4,
                       position_id=pid, is_entry=False, reason=ExitReason.TAKE_PROFIT.value))
    return pos


def _signals(*rows: tuple[str, str, float], ts: datetime = T0) -> Signals:
    return Signals(
        pl.DataFrame(
            {
                "pair": [r[0] for r in rows],
                "timestamp": [ts] * len(rows),
                "signal_type": [r[1] for r in rows],
                "probability": [r[2] for r in rows],
            },
            schema={"pair": pl.String, "timestamp": pl.Datetime("us"), "signal_type": pl.String, "probability": pl.Float64},
        )
    )


@pytest.fixture
def exporter() -> BacktestExporter:
    exp = BacktestExporter()
    exp.export_bar(_ts(0), _signals(), _metrics(1000.0), None)
    exp.export_bar(_ts(1), _signals(("BTCUSDT", "rise", 0.8), ("ETHUSDT", "fall", 0.6)), _metrics(1001.0), None)
    exp.export_bar(_ts(2), None, _metrics(1002.0), None)
    exp.export_position_close(_position("p1", closed=True), _ts(4), 110.0, ExitReason.TAKE_PROFIT)
    return exp


# ---------------------------------------------------------------- schemas
def test_trades_schema_order_matches_trade_fields() -> None:
    assert list(TRADES_SCHEMA.names()) == list(Trade.__dataclass_fields__)


def test_bars_schema_metric_columns_follow_metric_names() -> None:
    assert BARS_SCHEMA.names() == [
        "timestamp",
        "pair",
        "signal_type",
        "probability",
        *(f"metric_{n}" for n in METRIC_NAMES),
    ]


def test_trades_frame_empty_has_fixed_schema() -> None:
    assert trades_frame([]).schema == TRADES_SCHEMA


def test_trades_frame_open_and_closed_has_fixed_schema_and_nulls() -> None:
    df = trades_frame(
        [Trade.from_position(_position("a", closed=True), last_bar=9), Trade.from_position(_position("b"), last_bar=9)]
    )
    assert df.schema == TRADES_SCHEMA
    assert df.get_column("exit_time").to_list() == [_ts(4), None]
    assert df.get_column("bars_held").to_list() == [3, 8]


def test_trades_frame_generator_input_accepted() -> None:
    trades = (Trade.from_position(_position(f"p{i}"), last_bar=2) for i in range(3))
    assert trades_frame(trades).height == 3


def test_trades_frame_non_trade_raises_export_error() -> None:
    msg = (
        "`trades[0]` must be a signalflow.core.Trade, was dict; "
        "snapshot positions with `Trade.from_position(position, last_bar=...)`"
    )
    with pytest.raises(ExportError, match=f"^{re.escape(msg)}$"):
        trades_frame([{}])  # type: ignore[list-item]


# ---------------------------------------------------------------- exporter frames
def test_exporter_nothing_exported_frames_have_fixed_schemas() -> None:
    exp = BacktestExporter()
    assert exp.bars_df().schema == BARS_SCHEMA
    assert exp.trades_df().schema == TRADES_SCHEMA


def test_exporter_bars_df_has_fixed_schema(exporter: BacktestExporter) -> None:
    assert exporter.bars_df().schema == BARS_SCHEMA


def test_exporter_bar_without_signals_one_row_with_null_signal_columns(exporter: BacktestExporter) -> None:
    df = exporter.bars_df()
    assert df.get_column("timestamp").to_list() == [_ts(0), _ts(1), _ts(1), _ts(2)]
    assert df.row(0)[1:4] == (None, None, None)
    assert df.row(3)[1:4] == (None, None, None)


def test_exporter_bar_with_signals_one_row_per_signal(exporter: BacktestExporter) -> None:
    df = exporter.bars_df().filter(pl.col("timestamp") == _ts(1))
    assert df.select("pair", "signal_type", "probability").rows() == [
        ("BTCUSDT", "rise", 0.8),
        ("ETHUSDT", "fall", 0.6),
    ]
    assert df.get_column("metric_equity").to_list() == [1001.0, 1001.0]


def test_exporter_missing_metric_exported_as_null_and_extra_ignored() -> None:
    exp = BacktestExporter()
    exp.export_bar(T0, None, {"equity": 5.0, "not_a_metric": 1.0}, None)
    df = exp.bars_df()
    assert df.schema == BARS_SCHEMA
    assert df.item(0, "metric_equity") == 5.0
    assert df.item(0, "metric_cash") is None


def test_exporter_enum_signal_type_exported_as_string() -> None:
    frame = _signals(("BTCUSDT", "rise", 0.9)).value.with_columns(pl.col("signal_type").cast(pl.Categorical))
    exp = BacktestExporter()
    exp.export_bar(T0, Signals(frame), _metrics(), None)
    assert exp.bars_df().item(0, "signal_type") == "rise"


def test_exporter_tz_aware_timestamp_stored_as_naive_utc() -> None:
    exp = BacktestExporter()
    exp.export_bar(datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), None, _metrics(), None)
    df = exp.bars_df()
    assert df.schema == BARS_SCHEMA
    assert df.item(0, "timestamp") == datetime(2024, 1, 1, 0)


def test_exporter_non_datetime_ts_raises_export_error() -> None:
    msg = "`ts` must be a datetime, was int 5; pass the bar's timestamp as a datetime"
    with pytest.raises(ExportError, match=f"^{re.escape(msg)}$"):
        BacktestExporter().export_bar(5, None, _metrics(), None)  # type: ignore[arg-type]


def test_exporter_non_float_metric_raises_export_error_at_build() -> None:
    exp = BacktestExporter()
    exp.export_bar(T0, None, {"equity": "lots"}, None)  # type: ignore[dict-item]
    with pytest.raises(ExportError, match="^`metrics` values must be floats or None"):
        exp.bars_df()


# ---------------------------------------------------------------- position close
def test_export_position_close_closed_position_uses_broker_pnl(exporter: BacktestExporter) -> None:
    row = exporter.trades_df().row(0, named=True)
    assert row["position_id"] == "p1"
    assert row["exit_reason"] == "take_profit"
    assert row["is_closed"] is True
    assert row["realized_pnl"] == pytest.approx(20.0)
    assert row["fees"] == pytest.approx(0.42)
    assert row["net_pnl"] == pytest.approx(19.58)
    assert row["return_pct"] == pytest.approx(19.58 / 200.0)
    assert row["bars_held"] == 3


def test_export_position_close_open_position_realises_pnl_at_exit_price() -> None:
    exp = BacktestExporter()
    for i in range(6):
        exp.export_bar(_ts(i), None, _metrics(), None)
    exp.export_position_close(_position("s", side=PositionType.SHORT), _ts(5), 90.0, "stop_loss")
    row = exp.trades_df().row(0, named=True)
    assert row["realized_pnl"] == pytest.approx(20.0)
    assert row["exit_price"] == 90.0
    assert row["exit_time"] == _ts(5)
    assert row["exit_reason"] == "stop_loss"
    assert row["unrealized_pnl"] == 0.0
    assert row["bars_held"] == 4


def test_export_position_close_twice_raises_export_error(exporter: BacktestExporter) -> None:
    msg = (
        "`position` must be exported once, was `p1` (BTCUSDT) again; "
        "a position closes only once, check the caller exports each close once"
    )
    with pytest.raises(ExportError, match=f"^{re.escape(msg)}$"):
        exporter.export_position_close(_position("p1", closed=True), _ts(5), 110.0, "manual")


def test_export_position_close_twice_keeps_one_trade(exporter: BacktestExporter) -> None:
    with pytest.raises(ExportError):
        exporter.export_position_close(_position("p1", closed=True), _ts(5), 110.0, "manual")
    assert exporter.trades_df().height == 1


# ---------------------------------------------------------------- reset
def test_reset_clears_bars_and_trades(exporter: BacktestExporter) -> None:
    exporter.reset()
    assert exporter.bars_df().height == 0
    assert exporter.trades_df().height == 0
    assert exporter.n_bars == 0


def test_reset_allows_same_position_id_again(exporter: BacktestExporter) -> None:
    exporter.reset()
    exporter.export_position_close(_position("p1", closed=True), _ts(4), 110.0, "take_profit")
    assert exporter.trades_df().height == 1


# ---------------------------------------------------------------- finalize
def test_finalize_round_trip_equals_frames(exporter: BacktestExporter, tmp_path: Path) -> None:
    paths = exporter.finalize(tmp_path / "out" / "run1")
    assert paths == {"bars": tmp_path / "out" / "run1" / "bars.parquet", "trades": tmp_path / "out" / "run1" / "trades.parquet"}
    assert pl.read_parquet(paths["bars"]).equals(exporter.bars_df())
    assert pl.read_parquet(paths["trades"]).equals(exporter.trades_df())


def test_finalize_empty_exporter_files_keep_schemas(tmp_path: Path) -> None:
    paths = BacktestExporter().finalize(tmp_path)
    assert pl.read_parquet(paths["bars"]).schema == BARS_SCHEMA
    assert pl.read_parquet(paths["trades"]).schema == TRADES_SCHEMA


def test_finalize_leaves_no_temporary_files(exporter: BacktestExporter, tmp_path: Path) -> None:
    exporter.finalize(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.parquet", "trades.parquet"]


def test_finalize_crash_during_write_leaves_no_files(
    exporter: BacktestExporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_write(self: pl.DataFrame, file: object, **kwargs: object) -> None:
        Path(str(file)).write_bytes(b"PAR1 partial")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken_write)
    with pytest.raises(ExportError, match=r"bars\.parquet.*OSError: disk full") as info:
        exporter.finalize(tmp_path)
    assert isinstance(info.value.__cause__, OSError)
    assert list(tmp_path.iterdir()) == []


def test_finalize_crash_on_second_file_leaves_no_files(
    exporter: BacktestExporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = pl.DataFrame.write_parquet
    calls: list[object] = []

    def second_write_fails(self: pl.DataFrame, file: object, **kwargs: object) -> None:
        calls.append(file)
        if len(calls) == 2:
            Path(str(file)).write_bytes(b"PAR1 partial")
            raise OSError("disk full")
        original(self, file, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_parquet", second_write_fails)
    with pytest.raises(ExportError, match=r"trades\.parquet"):
        exporter.finalize(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_finalize_unknown_compression_raises_config_error(exporter: BacktestExporter, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="^`compression` must be one of"):
        exporter.finalize(tmp_path, compression="zip")


def test_finalize_path_is_a_file_raises_export_error(exporter: BacktestExporter, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="^`path` must be a creatable directory"):
        exporter.finalize(blocker / "sub")


def test_write_parquet_atomic_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "x.parquet"
    write_parquet_atomic(pl.DataFrame({"a": [1]}), target)
    write_parquet_atomic(pl.DataFrame({"a": [2, 3]}), target, compression="lz4")
    assert pl.read_parquet(target).get_column("a").to_list() == [2, 3]
