"""What the NVIDIA driver reports, read through ctypes so that no CUDA library is needed."""

from __future__ import annotations

import ctypes
import sys

_CUDA_ERROR_NO_DEVICE = 100


def cuda_device_count() -> tuple[int, str]:
    """(GPUs visible to this process, why none is visible or "").

    Honours CUDA_VISIBLE_DEVICES, since the driver applies it. Loads only the driver library
    (libcuda), never the CUDA runtime, so it is cheap and prints nothing.
    """
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        driver = ctypes.CDLL(name)
    except OSError:
        return 0, f"no NVIDIA driver ({name} cannot be loaded)"
    rc = driver.cuInit(0)
    if rc == _CUDA_ERROR_NO_DEVICE:
        return 0, "the NVIDIA driver sees no CUDA device"
    if rc != 0:
        return 0, f"the NVIDIA driver failed to initialise (cuInit error {rc})"
    count = ctypes.c_int(0)
    rc = driver.cuDeviceGetCount(ctypes.byref(count))
    if rc != 0:
        return 0, f"the NVIDIA driver cannot count devices (cuDeviceGetCount error {rc})"
    if count.value == 0:
        return 0, "the NVIDIA driver sees no CUDA device"
    return count.value, ""
