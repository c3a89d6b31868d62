"""scikit-learn (skl2onnx), XGBoost and LightGBM (onnxmltools) models to ONNX.

A scikit-learn model fitted on a DataFrame (a ColumnTransformer over numeric and categorical
columns, say) gets one ONNX input per column, named as the column: numbers as FP32 [batch, 1],
text as STRING [batch, 1]; other models one FP32 [batch, features] input. Classifiers answer
`label` and `probabilities` (a plain tensor, not skl2onnx's ZipMap of dictionaries);
regressors answer `variable`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from naiad.importer.samples import Sample
from naiad.importer.sources import ImportFailure

Feeds = Callable[[Sample], dict[str, np.ndarray]]
"""A sample as the ONNX model's inputs."""
Predict = Callable[[Sample], dict[str, np.ndarray]]
"""The original model's answers to a sample, by the ONNX output names they correspond to."""


@dataclass(frozen=True)
class Converted:
    """An ONNX model and how to run both it and the original on the same sample."""

    model: onnx.ModelProto
    feeds: Feeds
    original: Predict


def convert_tabular(
    framework: str, model: Any, *, opset: int | None, input_names: Sequence[str]
) -> Converted:
    """Converts a scikit-learn, XGBoost or LightGBM model; raises ImportFailure with the
    converter's reason when it cannot."""
    try:
        if framework == "sklearn":
            return _sklearn(model, opset, input_names)
        return _boosting(framework, model, opset, input_names)
    except ImportError as exc:
        raise ImportFailure(
            f"converting a {framework} model needs the converters: pip install 'naiad[import]' "
            f"({exc})"
        ) from None


def _sklearn(model: Any, opset: int | None, input_names: Sequence[str]) -> Converted:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.base import is_classifier

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    classifier = is_classifier(final)
    options = {id(final): {"zipmap": False}} if classifier else None
    columns = getattr(model, "feature_names_in_", None)
    if columns is not None:
        names = [str(c) for c in columns]
        text = _text_columns(model)
        initial = [
            (n, StringTensorType([None, 1]) if n in text else FloatTensorType([None, 1]))
            for n in names
        ]

        def feeds(sample: Sample) -> dict[str, np.ndarray]:
            table = _columns(sample, names)
            return {
                n: (
                    table[n].astype(str).astype(np.object_)
                    if n in text
                    else table[n].astype(np.float32)
                ).reshape(-1, 1)
                for n in names
            }

        def data(sample: Sample) -> Any:
            return sample.table()[names]
    else:
        width = int(model.n_features_in_)
        name = input_names[0] if input_names else "input"
        initial = [(name, FloatTensorType([None, width]))]

        def feeds(sample: Sample) -> dict[str, np.ndarray]:
            return {name: sample.matrix()}

        def data(sample: Sample) -> Any:
            return sample.matrix()

    try:
        onnx_model = convert_sklearn(
            model, initial_types=initial, target_opset=opset, options=options
        )
    except Exception as exc:  # skl2onnx raises many kinds for unsupported estimators
        raise ImportFailure(f"skl2onnx cannot convert this model: {exc}") from None
    return Converted(_rows_first(onnx_model), feeds, _predict(model, data, classifier))


def _boosting(
    framework: str, model: Any, opset: int | None, input_names: Sequence[str]
) -> Converted:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    width = _num_features(framework, model)
    name = input_names[0] if input_names else "input"
    initial = [(name, FloatTensorType([None, width]))]
    classifier = hasattr(model, "predict_proba")
    try:
        if framework == "xgboost":
            onnx_model = onnxmltools.convert_xgboost(
                model, initial_types=initial, target_opset=opset
            )
        else:
            onnx_model = onnxmltools.convert_lightgbm(
                model, initial_types=initial, target_opset=opset, zipmap=False
            )
    except Exception as exc:
        raise ImportFailure(f"onnxmltools cannot convert this {framework} model: {exc}") from None

    def feeds(sample: Sample) -> dict[str, np.ndarray]:
        return {name: sample.matrix()}

    def data(sample: Sample) -> Any:
        matrix = sample.matrix()
        if framework == "xgboost" and not hasattr(model, "predict_proba"):
            import xgboost

            return xgboost.DMatrix(matrix)
        return matrix

    return Converted(_rows_first(onnx_model), feeds, _predict(model, data, classifier))


def _rows_first(model: onnx.ModelProto) -> onnx.ModelProto:
    """Declares every output's first dimension as the batch: a tabular model answers one row
    per input row, though some converters declare it fixed (onnxmltools' LightGBM `label`
    says [1]), which would keep the model from batching."""
    for output in model.graph.output:
        dims = output.type.tensor_type.shape.dim
        if len(dims) >= 1:
            dims[0].Clear()
            dims[0].dim_param = "N"
    return model


def _predict(model: Any, data: Callable[[Sample], Any], classifier: bool) -> Predict:
    def original(sample: Sample) -> dict[str, np.ndarray]:
        given = data(sample)
        if classifier:
            return {
                "label": np.asarray(model.predict(given)),
                "probabilities": np.asarray(model.predict_proba(given)),
            }
        return {"variable": np.asarray(model.predict(given)).reshape(-1, 1)}

    return original


def _num_features(framework: str, model: Any) -> int:
    width = getattr(model, "n_features_in_", None)
    if width is None and framework == "xgboost":
        width = model.num_features()
    if width is None and framework == "lightgbm":
        width = model.num_feature()
    if not width:
        raise ImportFailure(f"cannot tell how many features this {framework} model takes")
    return int(width)


def _text_columns(model: Any) -> set[str]:
    """Columns a ColumnTransformer hands to an encoder whose categories are strings."""
    found: set[str] = set()
    steps = [s for _, s in model.steps] if hasattr(model, "steps") else [model]
    for step in steps:
        for _, transformer, columns in getattr(step, "transformers_", ()):
            if _encodes_text(transformer) and not isinstance(columns, str):
                found.update(str(c) for c in columns)
    return found


def _encodes_text(transformer: Any) -> bool:
    parts = [s for _, s in transformer.steps] if hasattr(transformer, "steps") else [transformer]
    for part in parts:
        categories = getattr(part, "categories_", None)
        if categories is not None:
            return any(np.asarray(c).dtype.kind in "OUS" for c in categories)
    return False


def _columns(sample: Sample, names: Sequence[str]) -> dict[str, np.ndarray]:
    if sample.columns is None:
        raise ImportFailure(
            "this model takes named columns: give the sample as a CSV with a header"
        )
    missing = [n for n in names if n not in sample.columns]
    if missing:
        raise ImportFailure(f"the sample lacks the model's columns {', '.join(missing)}")
    return sample.columns
