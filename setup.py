"""Builds the optional compiled step kernels; all other metadata is in pyproject.toml.

The extension needs a C++ compiler and the Python headers only. If it cannot be built,
the install still succeeds (``optional=True``) and rnnkit runs its torch-op loops instead.
"""

import sys

from setuptools import Extension, setup

unix = sys.platform != "win32"
flags = ["-O3", "-std=c++17", "-fno-trapping-math", "-fopenmp-simd"] if unix else ["/O2"]

setup(
    ext_modules=[
        Extension(
            "rnnkit.layers.fused._kernels",
            ["src/rnnkit/layers/fused/_kernels.cpp"],
            extra_compile_args=flags,
            language="c++",
            optional=True,
        )
    ]
)
