"""Which framework a model file comes from, and loading it.

Loading a pickle (scikit-learn's model.pkl, joblib files, a whole pickled torch module) runs
whatever code the file names: only ever load a file from someone you trust. This module loads
exactly the one file it is given and nothing next to it.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "torch", "torchscript", "onnx")
PICKLE_WARNING = (
    "warning: loading {path} unpickles it, which runs any code the file contains; "
    "import only files from a source you trust"
)


class ImportFailure(Exception):
    """The model cannot be imported; the message says why and what to do."""


@dataclass(frozen=True)
class Source:
    """A loaded model and the framework it belongs to."""

    framework: str
    model: Any
    """The framework's object (an estimator, a Booster, an nn.Module, an onnx.ModelProto)."""
    path: Path


def load_source(path: Path, framework: str | None, warn: Any = print) -> Source:
    """Loads `path` as `framework` (None: detected from the file and what it holds).

    `warn` receives the pickle warning before any pickle is opened.
    """
    if not path.is_file():
        raise ImportFailure(f"{path} is not a file")
    suffix = path.suffix.lower()
    if framework == "onnx" or (framework is None and suffix == ".onnx"):
        import onnx

        return Source("onnx", onnx.load(str(path)), path)
    if framework in ("torch", "torchscript") or (framework is None and suffix in (".pt", ".pth")):
        return _torch(path, framework, warn)
    if framework == "xgboost" and suffix in (".json", ".ubj"):
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(str(path))
        return Source("xgboost", booster, path)
    if framework == "lightgbm" and suffix == ".txt":
        import lightgbm

        return Source("lightgbm", lightgbm.Booster(model_file=str(path)), path)
    warn(PICKLE_WARNING.format(path=path))
    model = _unpickle(path)
    found = detect(model)
    if framework is not None and framework != found:
        raise ImportFailure(f"{path} holds a {type(model).__module__}.{type(model).__name__}, "
                            f"which is {found}, not {framework}")  # fmt: skip
    return Source(found, model, path)


def detect(model: Any) -> str:
    """The framework of a loaded object, from the module its class comes from."""
    module = type(model).__module__.split(".")[0]
    if module in ("xgboost", "lightgbm"):
        return module
    if module == "sklearn" or module == "imblearn":
        # A scikit-learn pipeline ending in a boosting model is still scikit-learn's to
        # convert (skl2onnx, with the boosting converters registered).
        return "sklearn"
    if module == "torch":
        return "torch"
    raise ImportFailure(
        f"cannot tell which framework a {type(model).__module__}.{type(model).__name__} "
        f"belongs to; pass --framework ({', '.join(FRAMEWORKS)})"
    )


def _unpickle(path: Path) -> Any:
    try:
        import joblib

        return joblib.load(path)
    except ImportError:
        pass
    except Exception as exc:  # joblib raises whatever unpickling raises
        raise ImportFailure(f"cannot load {path}: {exc}") from None
    try:
        with path.open("rb") as file:
            return pickle.load(file)
    except Exception as exc:
        raise ImportFailure(f"cannot load {path}: {exc}") from None


def _torch(path: Path, framework: str | None, warn: Any) -> Source:
    try:
        import torch
    except ImportError:
        raise ImportFailure(
            "importing a torch model needs torch: pip install torch "
            "(the CPU wheel: --index-url https://download.pytorch.org/whl/cpu)"
        ) from None
    if framework != "torch":
        try:
            with warnings.catch_warnings():
                # TorchScript is deprecated upstream; its archives are still what users have.
                warnings.simplefilter("ignore", FutureWarning)
                scripted = torch.jit.load(str(path), map_location="cpu")
            return Source("torchscript", scripted, path)
        except RuntimeError:
            if framework == "torchscript":
                raise ImportFailure(f"{path} is not a TorchScript archive") from None
    warn(PICKLE_WARNING.format(path=path))
    try:
        model = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ImportFailure(f"cannot load {path}: {exc}") from None
    if not isinstance(model, torch.nn.Module):
        raise ImportFailure(
            f"{path} holds a {type(model).__name__}, not a module; save the whole module "
            "(torch.save(model)) or a TorchScript archive (torch.jit.save), not a state_dict"
        )
    return Source("torch", model, path)
