"""Training data as `naiad profile` reads it: npz, npy, csv and parquet, one or several
inputs, text columns as categories; bad files get a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from naiad.errors import InvalidArgument
from naiad.monitor.datafiles import read_data


def test_csv_of_a_single_input_names_its_features(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("age,income\n31,1200.5\n45,\n")
    arrays, names = read_data(path, ["INPUT0"])
    assert names == {"INPUT0": ("age", "income")}
    assert arrays["INPUT0"].shape == (2, 2) and np.isnan(arrays["INPUT0"][1, 1])


def test_csv_of_several_inputs_groups_columns_by_prefix(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text("X.a,X.b,COLOR\n1,2,red\n3,4,blue\n")
    arrays, names = read_data(path, ["X", "COLOR"])
    assert names == {"X": ("a", "b")}
    assert arrays["X"].tolist() == [[1, 2], [3, 4]]
    assert arrays["COLOR"].tolist() == [[b"red"], [b"blue"]]
    with pytest.raises(InvalidArgument, match="no column 'Y'"):
        read_data(path, ["X", "Y"])


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"X.a": [1.0, 2.0], "COLOR": ["red", "blue"]}), path)
    arrays, names = read_data(path, ["X", "COLOR"])
    assert arrays["X"].tolist() == [[1.0], [2.0]] and names == {"X": ("a",)}
    assert arrays["COLOR"].tolist() == [[b"red"], [b"blue"]]


def test_npz_and_npy(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", INPUT0=np.ones((3, 2)), COLOR=np.zeros((3, 1)))
    arrays, _ = read_data(tmp_path / "d.npz", ["INPUT0", "COLOR"])
    assert arrays["INPUT0"].shape == (3, 2)
    with pytest.raises(InvalidArgument, match="no array for input"):
        read_data(tmp_path / "d.npz", ["OTHER", "INPUT0"])
    np.save(tmp_path / "d.npy", np.ones((4, 2)))
    assert read_data(tmp_path / "d.npy", ["INPUT0"])[0]["INPUT0"].shape == (4, 2)
    with pytest.raises(InvalidArgument, match="one input only"):
        read_data(tmp_path / "d.npy", ["A", "B"])


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("x.csv", "a,b\n1\n", "every row needs 2 fields"),
        ("x.csv", "a,b\n", "at least one data row"),
        ("x.txt", "", "give a .npz"),
        ("x.npy", "not numpy", "x.npy"),
    ],
)
def test_bad_files_are_refused_clearly(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        read_data(tmp_path / name, ["INPUT0"])
    with pytest.raises(InvalidArgument, match="no such file"):
        read_data(tmp_path / "missing.csv", ["INPUT0"])
