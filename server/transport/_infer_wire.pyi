from collections.abc import Sequence

Parameter = bool | int | float | str
Tensor = tuple[str, str, tuple[int, ...]]

def read_request(
    buf: bytes,
) -> (
    tuple[
        str,
        str,
        str,
        dict[str, Parameter],
        list[Tensor],
        list[str],
        list[tuple[int, int]],
    ]
    | None
): ...
def write_response(
    model_name: str,
    model_version: str,
    request_id: str,
    outputs: Sequence[tuple[str, str, tuple[int, ...], object]],  # object: any C-contiguous buffer
    in_stream: bool,
) -> bytes: ...
