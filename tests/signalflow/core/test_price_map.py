"""`PriceMap` (`ModelContext.prices`): read like a dict, refuse changes, survive copies."""

from __future__ import annotations

import copy
import pickle

import pytest

from signalflow.core.prices import PriceMap


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.__setitem__("C", 1.0),
        lambda m: m.__delitem__("A"),
        lambda m: m.update({"A": 1.0}),
        lambda m: m.pop("A"),
        lambda m: m.popitem(),
        lambda m: m.setdefault("C", 1.0),
        lambda m: m.clear(),
        lambda m: m.__ior__({"C": 1.0}),
    ],
    ids=["set", "del", "update", "pop", "popitem", "setdefault", "clear", "ior"],
)
def test_price_map_refuses_changes(change):
    prices = PriceMap({"A": 100.0, "B": 50.0})
    with pytest.raises(TypeError, match=r"read-only.*dict\(context\.prices\)"):
        change(prices)
    assert prices == {"A": 100.0, "B": 50.0}


def test_price_map_reads_copies_and_pickles():
    prices = PriceMap({"A": 100.0, "B": 50.0})
    assert prices["A"] == 100.0 and prices.get("C") is None and "B" in prices and list(prices) == ["A", "B"]
    mutable = dict(prices)
    mutable["C"] = 1.0
    assert "C" not in prices
    for clone in (pickle.loads(pickle.dumps(prices)), copy.deepcopy(prices), copy.copy(prices)):
        assert type(clone) is PriceMap and clone == prices
