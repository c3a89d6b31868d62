"""StatsLedger: offsets across reloads, retirement of drained generations, disappearance."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from naiad.observability.ledger import COUNTERS, HISTOGRAMS, HistogramTotals, StatsLedger

BOUNDS = [1.0, 2.0, 4.0]


def _stats(success: int = 0, pending: int = 0, in_flight: int = 0, last_ms: int = 0) -> Any:
    fields: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    fields.update(success_count=success, inference_count=success, pending_by_level=[pending])
    fields.update(num_pending=pending, num_in_flight=in_flight, last_inference_ms=last_ms)
    for name in HISTOGRAMS:
        fields[name] = SimpleNamespace(bounds=BOUNDS, counts=[success, 0, 0, 0], sum=float(success))
    return SimpleNamespace(**fields)


class FakeServed:
    def __init__(self) -> None:
        self.current = _stats()

    def stats(self) -> Any:
        return self.current


def _success(ledger: StatsLedger, serving: dict[tuple[str, int], Any]) -> dict[str, int]:
    return {
        f"{r.name}/{r.version}": r.totals.counters["success_count"] for r in ledger.collect(serving)
    }


def test_a_reload_continues_the_series() -> None:
    ledger = StatsLedger()
    first, second = FakeServed(), FakeServed()
    first.current = _stats(success=3)
    assert _success(ledger, {("m", 1): first}) == {"m/1": 3}
    first.current = _stats(success=4, in_flight=1)  # still draining after the swap
    second.current = _stats(success=1)
    assert _success(ledger, {("m", 1): second}) == {"m/1": 5}
    first.current = _stats(success=5)  # drained: retired into the offset
    second.current = _stats(success=2)
    reports = ledger.collect({("m", 1): second})
    assert reports[0].totals.counters["success_count"] == 7
    assert reports[0].totals.histograms["batch_size"].counts == (7, 0, 0, 0)
    second.current = _stats(success=3)
    assert _success(ledger, {("m", 1): second}) == {"m/1": 8}  # first is not counted twice


def test_an_unloaded_version_disappears_and_returns_where_it_was() -> None:
    ledger = StatsLedger()
    old, new = FakeServed(), FakeServed()
    old.current = _stats(success=2, last_ms=1000)
    assert _success(ledger, {("m", 1): old, ("n", 1): FakeServed()}) == {"m/1": 2, "n/1": 0}
    assert _success(ledger, {("n", 1): FakeServed()}) == {"n/1": 0}
    new.current = _stats(success=1)
    [report] = [r for r in ledger.collect({("m", 1): new}) if r.name == "m"]
    assert report.totals.counters["success_count"] == 3
    assert report.last_inference_ms == 1000  # kept from the retired generation


def test_timed_factory_records_load_duration_and_generations() -> None:
    ledger = StatsLedger()
    started = FakeServed()
    factory = ledger.timed(lambda settings, config: started)
    assert factory(SimpleNamespace(name="m", version=2), None) is started
    [report] = ledger.collect({("m", 2): started})
    assert report.load_duration_s is not None and report.load_duration_s >= 0
    unknown = FakeServed()  # started some other way: adopted, no load duration
    [report] = ledger.collect({("x", 1): unknown})
    assert report.load_duration_s is None


def test_pending_gauges_add_up_across_live_generations() -> None:
    ledger = StatsLedger()
    old, new = FakeServed(), FakeServed()
    ledger.collect({("m", 1): old})
    old.current = _stats(pending=2, in_flight=1)
    new.current = _stats(pending=1)
    [report] = ledger.collect({("m", 1): new})
    assert (report.num_pending, report.num_in_flight, report.pending_by_level) == (3, 1, (3,))


def test_histogram_cumulative_buckets() -> None:
    h = HistogramTotals((1.0, 2.0), (1, 2, 3), 10.0)
    assert h.cumulative() == [(1.0, 1), (2.0, 3), (float("inf"), 6)]
    assert (h + h).counts == (2, 4, 6) and h.count == 6
    with pytest.raises(ValueError):
        h + HistogramTotals((5.0,), (0, 0), 0.0)
