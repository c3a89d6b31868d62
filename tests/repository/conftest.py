"""Fixtures for repository tests: a fake factory, a small repository, started managers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import modelgen
import pytest
from repo_fakes import FakeFactory, MakeRepo, fp32

from naiad.repository.manager import ModelRepository


@pytest.fixture
def factory() -> FakeFactory:
    return FakeFactory()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """a (versions 1, 2), b (version 1): FP32 identity models without config."""
    return modelgen.write_repository(tmp_path / "repo", {"a": {1: fp32, 2: fp32}, "b": {1: fp32}})


@pytest.fixture
def make_repo(root: Path, factory: FakeFactory) -> Iterator[MakeRepo]:
    """make_repo(mode="none", **options) -> a started ModelRepository over `root`."""
    made: list[ModelRepository] = []

    def make(mode: str = "none", start: bool = True, **options: object) -> ModelRepository:
        options.setdefault("poll_interval_s", None)
        repo = ModelRepository(root, factory, control_mode=mode, **options)  # type: ignore[arg-type]
        made.append(repo)
        if start:
            repo.start()
        return repo

    yield make
    for repo in made:
        repo.stop()
