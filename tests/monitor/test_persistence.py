"""What outlives the process: labels and pending predictions, captured samples (within their
cap), and the alert hook's firing once per alert."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from monitor_support import Clock, book_for, config, data, feed, write_model_dir

from naiad.errors import InvalidArgument
from naiad.monitor.book import MonitorBook
from naiad.monitor.settings import MonitorSettings, read_settings
from naiad.monitor.sink import SampleSink


def _record(size: int, number: int) -> dict[str, object]:
    return {"n": number, "pad": "x" * size}


def test_the_sink_never_passes_its_cap_and_rotates(tmp_path: Path) -> None:
    sink = SampleSink(tmp_path / "s", max_bytes=10_000, max_file_bytes=2_000)
    rng = np.random.default_rng(0)
    for number in range(2000):
        sink.write(_record(int(rng.integers(10, 600)), number))
        on_disk = sum(p.stat().st_size for p in (tmp_path / "s").iterdir())
        assert on_disk <= 10_000
        assert all(p.stat().st_size <= 2_000 for p in (tmp_path / "s").iterdir())
    assert len(sink.files()) >= 5
    newest = sink.files()[-1].read_text().splitlines()[-1]
    assert json.loads(newest)["n"] == 1999  # the oldest went first


def test_a_record_larger_than_a_file_is_dropped_and_counted(tmp_path: Path) -> None:
    sink = SampleSink(tmp_path / "s", max_bytes=4096, max_file_bytes=1024)
    assert not sink.write(_record(2000, 0))
    assert sink.num_dropped == 1 and sink.total_bytes == 0


def test_a_restarted_sink_continues_and_counts_what_is_there(tmp_path: Path) -> None:
    first = SampleSink(tmp_path / "s", max_bytes=5000, max_file_bytes=1000)
    for number in range(30):
        first.write(_record(200, number))
    again = SampleSink(tmp_path / "s", max_bytes=5000, max_file_bytes=1000)
    assert again.total_bytes == first.total_bytes
    for number in range(30, 60):
        again.write(_record(200, number))
    assert sum(p.stat().st_size for p in (tmp_path / "s").iterdir()) <= 5000
    assert again.files()[-1].name > first.files()[-1].name


def test_labels_and_pending_predictions_survive_a_restart(tmp_path: Path) -> None:
    settings = "label_window = 50\nwindow_rows = 500\n"
    book = book_for(tmp_path, settings)
    feed(book, data(100, np.random.default_rng(1)), batch=1)
    pending = dict(book.model("m").labels.pending)
    ids = sorted(pending, key=lambda i: int(i[1:]))
    book.label("m", [(i, pending[i][1][0]) for i in ids[:60]])
    before = book.model("m").labels.scores["1"]
    assert before.baseline == 1.0 and before.num_scored == 60

    book.stop()  # what a server's shutdown does: the state directory is free again
    restarted = MonitorBook(None, tmp_path / ".state", clock=Clock())
    restarted.configure("m", tmp_path / "m", config())
    labels = restarted.model("m").labels
    assert labels.scores["1"].value() == 1.0 and len(labels.scores["1"].window) == 50
    assert set(labels.pending) == set(ids[60:])  # labelled ones are not pending again
    outcome = restarted.label("m", [(i, (pending[i][1][0] + 1) % 3) for i in ids[60:]])
    assert outcome.matched == 40 and outcome.unmatched == 0
    assert labels.scores["1"].value() == pytest.approx(10 / 50)
    assert restarted.model("m").alerts[("1", "accuracy")]


def test_bad_labels_are_counted_not_scored(tmp_path: Path) -> None:
    book = book_for(tmp_path, "window_rows = 500\n")
    feed(book, data(4, np.random.default_rng(2)), batch=2)
    outcome = book.label("m", [("r0", [1, 2, 3]), ("r1", "cat"), ("nobody", 1)])
    assert (outcome.matched, outcome.invalid, outcome.unmatched) == (0, 2, 1)
    assert "2 rows" in outcome.errors[0]


def test_captured_samples_hold_low_confidence_answers_with_outputs(tmp_path: Path) -> None:
    book = book_for(tmp_path, "capture_below_confidence = 0.99\nwindow_rows = 500\n")
    feed(book, data(20, np.random.default_rng(3)), batch=1)
    sink = book.model("m").sink
    assert sink is not None and sink.num_written > 0
    first = json.loads(sink.files()[0].read_text().splitlines()[0])
    assert first["reasons"] == ["low_confidence"] and first["confidence"][0] < 0.99
    assert len(first["outputs"]["OUTPUT0"][0]) == 3 and first["inputs"]["COLOR"][0][0] in (
        "red", "green", "blue",
    )  # fmt: skip
    book.label("m", [(first["id"], 0)])
    last = json.loads(sink.files()[-1].read_text().splitlines()[-1])
    assert last["type"] == "label" and last["id"] == first["id"]


def test_the_hook_fires_once_when_a_drift_alert_starts(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    script = tmp_path / "hook.py"
    script.write_text(f"import sys\nopen({str(out)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    command = f"{sys.executable} {script}"
    settings = (
        f"window_rows = 200\nevaluate_every_rows = 200\nalert_command = {json.dumps(command)}\n"
    )
    book = book_for(tmp_path, settings)
    rng = np.random.default_rng(4)
    for _ in range(3):  # three drifting windows: one alert episode
        shifted = data(200, rng)
        shifted["INPUT0"][:, 2] += 1.0
        feed(book, shifted)
    book.model("m").hook.join()
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    alert = json.loads(lines[0])
    assert alert["alert"] == "drift" and alert["model"] == "m"
    assert {"tensor": "INPUT0", "feature": "2"}.items() <= alert["features"][0].items()
    feed(book, data(200, rng))  # the alert ends
    shifted = data(200, rng)
    shifted["INPUT0"][:, 2] += 1.0
    feed(book, shifted)  # and starts again: a second firing
    book.model("m").hook.join()
    assert len(out.read_text().splitlines()) == 2


def test_settings_files_are_checked(tmp_path: Path) -> None:
    model_dir = write_model_dir(tmp_path, "", reference_rows=0)
    assert read_settings(model_dir, None) == MonitorSettings(min_evaluate_interval_s=0.0)
    (model_dir / "monitor.toml").write_text("enabled = false\n")
    assert read_settings(model_dir, MonitorSettings()) is None
    for text, message in (
        ("sample_ratio = 2.0\n", "within 0..1"),
        ("windw_rows = 5\n", "unknown monitor setting 'windw_rows'"),
        ("window_rows = 'many'\n", "window_rows must be a int"),
        ("window_rows = [\n", "monitor.toml"),
        ("[features]\nINPUT0 = 3\n", "[features]"),
    ):
        (model_dir / "monitor.toml").write_text(text)
        with pytest.raises(InvalidArgument, match=message):
            read_settings(model_dir, None)
    (tmp_path / "other").mkdir()
    assert read_settings(tmp_path / "other", None) is None


def test_a_second_process_on_the_same_state_keeps_off_its_files(tmp_path: Path) -> None:
    first = book_for(tmp_path)
    second = MonitorBook(None, tmp_path / ".state", clock=Clock())
    second.configure("m", tmp_path / "m", config())
    assert first.model("m").sink is not None
    assert second.model("m").sink is None  # its own bytes would not count against the cap
    feed(second, data(10, np.random.default_rng(5)), batch=1)
    assert len(second.model("m").labels.pending) == 10  # in memory only
    assert not (tmp_path / ".state" / "m" / "pending.jsonl").exists()
    first.stop()


def test_captures_per_second_are_capped(tmp_path: Path) -> None:
    clock = Clock()
    book = book_for(tmp_path, "capture_share = 1.0\nmax_captures_per_s = 5\n", clock=clock)
    feed(book, data(30, np.random.default_rng(6)), batch=1)
    sink = book.model("m").sink
    assert sink is not None and sink.num_written == 5
    clock.now += 1.0
    feed(book, data(30, np.random.default_rng(7)), batch=1)
    assert sink.num_written == 10
