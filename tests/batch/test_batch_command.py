"""The `naiad batch` command line: flags that cannot work together are refused with exit 2 and
a message, before anything is read or loaded; a finished job is not run twice."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from batch_data import feature_table, features

from naiad.cli import main


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "give either --model-repository (local engine) or --url (a server)"),
        (["--model-repository", "R", "--url", "h:1"], "give either --model-repository"),
        (["--url", "h:1", "--ray"], "--ray and --url exclude each other"),
        (["--model-repository", "R", "--map", "INPUT0"], "give INPUT=COLUMN"),
        (["--model-repository", "R", "--chunk-rows", "0"], "--chunk-rows is >= 1"),
    ],
)
def test_flags_that_cannot_work_are_refused(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["batch", "--model", "m", "--input", "in", "--output", "out", *flags])
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_missing_input_and_an_unknown_model_are_clear_errors(
    repository: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--model-repository", str(repository), "--output", str(tmp_path / "out")]
    assert main(["batch", "--model", "clf", "--input", str(tmp_path / "nothing"), *common]) == 2
    assert "does not exist" in capsys.readouterr().err
    pq.write_table(feature_table(features(8)), tmp_path / "in.parquet")
    source = str(tmp_path / "in.parquet")
    assert main(["batch", "--model", "nope", "--input", source, *common]) == 1
    assert "nope" in capsys.readouterr().err


def test_a_finished_job_reports_its_summary_again_without_running(
    repository: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pq.write_table(feature_table(features(100)), tmp_path / "in.parquet")
    flags = ["batch", "--model-repository", str(repository), "--model", "clf",
             "--input", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"),
             "--map", "INPUT0=f*"]  # fmt: skip
    assert main(flags) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert "rows=100 written=100" in first
    part = next((tmp_path / "out").glob("part-*.parquet"))
    written = part.stat().st_mtime_ns
    assert main(flags) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == first
    assert part.stat().st_mtime_ns == written
