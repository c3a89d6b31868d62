import numpy as np
from numpy.typing import ArrayLike

def decode_bytes(
    buf: bytes | bytearray | memoryview, count: int, max_length: int = -1
) -> np.ndarray: ...
def encode_bytes(array: ArrayLike) -> bytes: ...
