"""Builds naiad's native scheduler, the gRPC stubs from protos/, their Cython BYTES codec and the
server's Cython request codec."""

from __future__ import annotations

import glob
import os

from pybind11.setup_helpers import Pybind11Extension
from setuptools import Extension, find_namespace_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "protos")


def generate_stubs() -> None:
    """Runs protoc on protos/ so that protos/X/y.proto becomes the module X.y_pb2 beside it."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    sources = sorted(glob.glob(os.path.join(PROTO_ROOT, "naiad_protocol", "*.proto")))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={PROTO_ROOT}",
        f"--pyi_out={PROTO_ROOT}",
        f"--grpc_python_out={PROTO_ROOT}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on " + " ".join(sources))


def native_extension() -> Extension:
    sources = sorted(glob.glob("native/src/*.cc")) + ["native/binding.cc"]
    return Pybind11Extension(
        "naiad._native",
        sources,
        include_dirs=["native/include"],
        cxx_std=17,
        extra_compile_args=["-O3"],
    )


def codec_extension() -> list[Extension]:
    # In naiad_protocol, not naiad, because clients and bench share it and may not import naiad.
    from Cython.Build import cythonize

    source = "protos/naiad_protocol/_bytes_codec.pyx"
    ext = Extension("naiad_protocol._bytes_codec", [source], extra_compile_args=["-O3"])
    # The server's own request and response codec (naiad.transport.wire_request uses it).
    wire = Extension(
        "naiad.transport._infer_wire",
        ["server/transport/_infer_wire.pyx"],
        extra_compile_args=["-O3"],
    )
    return cythonize([ext, wire], language_level=3, quiet=True)


# Generated before setup() runs so that regular and editable builds both see the modules.
generate_stubs()
setup(
    packages=[
        "naiad",
        *(f"naiad.{name}" for name in find_namespace_packages("server", exclude=["*__pycache__*"])),
        "naiad_client",
        "naiad_protocol",
    ],
    package_data={
        "naiad": ["py.typed", "_native.pyi", "transport/_infer_wire.pyi", "transport/http/*.json"],
        "naiad_protocol": ["*.proto", "*.pyi"],
    },
    ext_modules=[native_extension(), *codec_extension()],
)
