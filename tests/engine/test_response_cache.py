"""The response cache on its own: keys, LRU by bytes within the cap, scopes."""

from __future__ import annotations

import numpy as np
import pytest

from naiad.datatypes import from_wire
from naiad.engine.request import InferInput, InferOutput, InferRequest
from naiad.engine.response_cache import (
    ENTRY_OVERHEAD_BYTES,
    ResponseCache,
    cacheable,
    request_key,
)

FP32 = from_wire("FP32")
INT32 = from_wire("INT32")
BYTES = from_wire("BYTES")


def _request(*inputs: InferInput, outputs: list[str] | None = None, **parameters) -> InferRequest:  # type: ignore[no-untyped-def]
    return InferRequest("m", "", "id", list(inputs), outputs, dict(parameters))


def _input(name: str = "x", values: object = (1, 2, 3, 4), dtype=FP32, shape=(1, 4)) -> InferInput:  # type: ignore[no-untyped-def]
    return InferInput(name, dtype, shape, np.asarray(values, dtype.numpy).reshape(shape))


def _output(num_bytes: int, fill: float = 0.0) -> InferOutput:
    return InferOutput("y", FP32, np.full(num_bytes // 4, fill, np.float32))


def _key(n: int) -> bytes:
    return n.to_bytes(32, "little")


def test_same_request_same_key_and_every_answer_changing_part_changes_it() -> None:
    base = request_key(1, _request(_input()), 1)
    assert request_key(1, _request(_input()), 1) == base
    different = [
        request_key(2, _request(_input()), 1),  # another generation
        request_key(1, _request(_input()), 2),  # another version
        request_key(1, _request(_input(values=(1, 2, 3, 5))), 1),
        request_key(1, _request(_input(name="z")), 1),
        request_key(1, _request(_input(shape=(2, 2))), 1),
        request_key(1, _request(_input(dtype=INT32)), 1),
        request_key(1, _request(_input(), outputs=["y"]), 1),
        request_key(1, _request(_input(), custom=1), 1),
        request_key(1, _request(_input(), custom=True), 1),
    ]
    assert base not in different
    assert len(set(different)) == len(different)
    other_model = InferRequest("n", "", "id", [_input()])
    assert request_key(1, other_model, 1) != base


def test_scheduling_parameters_ids_and_input_order_do_not_change_the_key() -> None:
    a, b = _input("a"), _input("b", values=(5, 6, 7, 8))
    base = request_key(1, _request(a, b), 1)
    assert request_key(1, _request(b, a), 1) == base
    assert request_key(1, _request(a, b, priority=1, timeout=500), 1) == base
    renamed = _request(a, b)
    renamed.id = "another"
    assert request_key(1, renamed, 1) == base
    assert request_key(1, _request(a, b, triton_enable_empty_final_response=True), 1) == base


def test_bytes_inputs_key_on_their_elements() -> None:
    def strings(*values: bytes) -> InferInput:
        data = np.array(values, dtype=object).reshape(1, len(values))
        return InferInput("s", BYTES, (1, len(values)), data)

    # The same concatenation split differently must not collide.
    assert request_key(1, _request(strings(b"ab", b"c")), 1) != request_key(
        1, _request(strings(b"a", b"bc")), 1
    )
    assert request_key(1, _request(strings(b"ab", b"c")), 1) == request_key(
        1, _request(strings(b"ab", b"c")), 1
    )


def test_sequence_requests_are_not_cacheable() -> None:
    assert cacheable(_request(_input()))
    assert not cacheable(_request(_input(), sequence_id=7))
    assert not cacheable(_request(_input(), sequence_start=True))


def test_stored_answers_are_private_read_only_copies() -> None:
    cache = ResponseCache(10_000)
    output = _output(64, 1.0)
    assert cache.put(_key(1), 1, [output])
    output.data[:] = 9.0
    stored = cache.get(_key(1))
    assert stored is not None
    assert np.all(stored[0].data == 1.0)
    assert not stored[0].data.flags.writeable


def test_least_recently_used_goes_first_and_the_cap_holds() -> None:
    entry_bytes = ENTRY_OVERHEAD_BYTES + 32 + 400
    cache = ResponseCache(3 * entry_bytes)
    for n in range(3):
        assert cache.put(_key(n), 1, [_output(400, n)])
    assert cache.get(_key(0)) is not None  # 0 is now the most recently used; 1 the least
    assert cache.put(_key(3), 1, [_output(400, 3)])
    assert cache.get(_key(1)) is None
    assert all(cache.get(_key(n)) is not None for n in (0, 2, 3))
    counts = cache.counts()
    assert counts.num_entries == 3
    assert counts.num_bytes == 3 * entry_bytes <= counts.max_bytes
    assert counts.num_evictions == 1
    assert counts.num_inserts == 4


def test_an_answer_larger_than_the_cap_is_not_stored_and_evicts_nothing() -> None:
    cache = ResponseCache(1_000)
    assert cache.put(_key(1), 1, [_output(400)])
    assert not cache.put(_key(2), 1, [_output(4_000)])
    assert cache.get(_key(1)) is not None
    assert cache.counts().num_evictions == 0


def test_replacing_a_key_does_not_count_its_bytes_twice() -> None:
    cache = ResponseCache(10_000)
    cache.put(_key(1), 1, [_output(400)])
    cache.put(_key(1), 1, [_output(800)])
    assert cache.counts().num_entries == 1
    assert cache.counts().num_bytes == ENTRY_OVERHEAD_BYTES + 32 + 800


def test_dropping_a_scope_forgets_only_its_answers() -> None:
    cache = ResponseCache(10_000)
    first, second = cache.new_scope(), cache.new_scope()
    assert first != second
    cache.put(_key(1), first, [_output(400)])
    cache.put(_key(2), second, [_output(400)])
    cache.drop_scope(first)
    assert cache.get(_key(1)) is None
    assert cache.get(_key(2)) is not None
    assert cache.counts().num_bytes == ENTRY_OVERHEAD_BYTES + 32 + 400


def test_bytes_outputs_are_charged_their_encoded_size() -> None:
    cache = ResponseCache(10_000)
    data = np.array([b"abc", b"defgh"], dtype=object)
    cache.put(_key(1), 1, [InferOutput("s", BYTES, data)])
    assert cache.counts().num_bytes == ENTRY_OVERHEAD_BYTES + 32 + (4 + 3) + (4 + 5)


def test_a_cache_needs_a_positive_cap() -> None:
    with pytest.raises(ValueError, match="at least 1 byte"):
        ResponseCache(0)


def test_empty_and_strided_inputs_have_keys() -> None:
    empty = InferInput("x", FP32, (0, 3), np.zeros((0, 3), np.float32))
    assert request_key(1, _request(empty), 1) != request_key(1, _request(_input()), 1)
    strided = np.arange(8, dtype=np.float32).reshape(2, 4)[:, ::2]
    dense = InferInput("x", FP32, (2, 2), np.ascontiguousarray(strided))
    view = InferInput("x", FP32, (2, 2), strided)
    assert request_key(1, _request(view), 1) == request_key(1, _request(dense), 1)
