"""Shadow comparisons in batches: many (stable, candidate) answer pairs measured at once.

A pair at a time costs a dozen small numpy calls whatever the answer's size, which on a
transport-bound model is most of what a shadow copy costs the event loop. Pairs whose answers
have the same outputs (names, shapes, numeric types) are stacked and measured by one set of
array operations; any other pair is measured alone by `divergence.compare`. Either way each
pair gets exactly the Divergence `compare` gives it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from naiad.engine.request import InferResponse
from naiad.rollout.divergence import Divergence, compare

Pair = tuple[InferResponse, InferResponse]
"""(stable's answer, the candidate's answer) to the same request."""


def compare_many(pairs: Sequence[Pair]) -> list[Divergence]:
    """The divergence of each pair's candidate answer from its stable answer, in order."""
    found: list[Divergence | None] = [None] * len(pairs)
    groups: dict[tuple[object, ...], list[int]] = {}
    for index, (stable, candidate) in enumerate(pairs):
        layout = _layout(stable, candidate)
        if layout is None:
            found[index] = compare(stable, candidate)
        else:
            groups.setdefault(layout, []).append(index)
    for indices in groups.values():
        if len(indices) == 1:
            found[indices[0]] = compare(*pairs[indices[0]])
            continue
        for index, divergence in zip(indices, _stacked([pairs[i] for i in indices]), strict=True):
            found[index] = divergence
    return [d for d in found if d is not None]


def _layout(stable: InferResponse, candidate: InferResponse) -> tuple[object, ...] | None:
    """What both answers' outputs look like, when they can be stacked with others like them:
    the same names in the same order, the same shapes, numeric data only."""
    if len(stable.outputs) != len(candidate.outputs):
        return None
    layout: list[object] = []
    for ours, theirs in zip(stable.outputs, candidate.outputs, strict=True):
        a, b = ours.data, theirs.data
        if ours.name != theirs.name or a.shape != b.shape:
            return None
        if a.dtype.kind not in "fiu" or b.dtype.kind not in "fiu":
            return None
        layout.append((ours.name, a.shape, a.dtype.str, b.dtype.str))
    return tuple(layout)


def _stacked(pairs: Sequence[Pair]) -> list[Divergence]:
    num = len(pairs)
    max_abs = np.zeros(num)
    total_abs = np.zeros(num)
    num_rows = 0
    disagreeing = np.zeros(num, dtype=np.int64)
    num_elements = 0
    for position in range(len(pairs[0][0].outputs)):
        ours = np.stack([stable.outputs[position].data for stable, _ in pairs])
        theirs = np.stack([candidate.outputs[position].data for _, candidate in pairs])
        diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).reshape(num, -1)
        diff[np.isnan(diff)] = np.inf  # NaN on either side is as far apart as can be
        if diff.shape[1]:
            np.maximum(max_abs, diff.max(axis=1), out=max_abs)
            total_abs += diff.sum(axis=1)
            num_elements += diff.shape[1]
        shape = ours.shape[1:]
        if len(shape) and shape[-1] >= 2:
            classes = shape[-1]
            a = np.argmax(ours.reshape(num, -1, classes), axis=-1)
            b = np.argmax(theirs.reshape(num, -1, classes), axis=-1)
            disagreeing += np.count_nonzero(a != b, axis=1)
            num_rows += a.shape[1]
    mean_abs = total_abs / num_elements if num_elements else np.zeros(num)
    share = disagreeing / num_rows if num_rows else np.zeros(num)
    return [
        Divergence(float(m), float(mean), float(s))
        for m, mean, s in zip(max_abs, mean_abs, share, strict=True)
    ]
