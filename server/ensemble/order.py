"""The order in which a repository's models load: plain models first, then each ensemble after
the ensembles it uses, so that an ensemble's members serve when it starts (members.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from naiad.config.parse import parse_config_json, read_config_file
from naiad.ensemble.config import is_ensemble
from naiad.errors import ModelLoadError


def load_waves(names: Sequence[str], directories: Mapping[str, Path]) -> list[list[str]]:
    """`names` in waves: every model of a wave may load in parallel once the waves before it
    have loaded. A config that cannot be read goes in the first wave, where its load fails
    with the reason; ensembles that use one another in a circle share the last wave, where each
    fails for want of the other."""
    uses: dict[str, set[str]] = {}
    for name in names:
        path = directories.get(name)
        try:
            config = read_config_file(path, model=name) if path is not None else None
        except ModelLoadError:
            continue
        if config is not None and is_ensemble(config):
            uses[name] = {step.model_name for step in config.ensemble_scheduling.step}
    plain = [name for name in names if name not in uses]
    waves = [plain] if plain else []
    while uses:
        wave = sorted(name for name, used in uses.items() if not used & uses.keys())
        if not wave:
            wave = sorted(uses)
        waves.append(wave)
        for name in wave:
            del uses[name]
    return waves


def members_of(name: str, directory: Path | None, config_json: str | None = None) -> list[str]:
    """The models `name`'s steps use, in step order without repeats, when it is an ensemble
    (its config from `config_json` when given, else its directory); [] otherwise, or when its
    config cannot be read (its own load then fails with the reason)."""
    try:
        if config_json is not None:
            config = parse_config_json(config_json, model=name)
        elif directory is not None:
            config = read_config_file(directory, model=name)
        else:
            return []
    except ModelLoadError:
        return []
    if config is None or not is_ensemble(config):
        return []
    return list(dict.fromkeys(step.model_name for step in config.ensemble_scheduling.step))
