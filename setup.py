"""Builds the optional compiled step kernels; all other metadata is in pyproject.toml.

The extension needs a C++ compiler and the Python headers only. It is built with OpenMP
where the compiler has it (a step's rows then split among torch's own threads: the
extension links the same libgomp torch loads) and without it otherwise. If it cannot be
built at all, the install still succeeds (``optional=True``) and rnnkit runs its torch-op
loops instead.
"""

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

unix = sys.platform != "win32"
flags = ["-O3", "-std=c++17", "-fno-trapping-math", "-fopenmp-simd"] if unix else ["/O2"]
openmp = ["-fopenmp"] if unix else []


class BuildWithOpenMP(build_ext):
    """Builds with OpenMP first, then without it if the compiler or its runtime lacks it."""

    def build_extension(self, ext: Extension) -> None:
        ext.extra_compile_args, ext.extra_link_args = flags + openmp, list(openmp)
        try:
            super().build_extension(ext)
        except Exception:  # any compiler or linker failure: retry without OpenMP
            if not openmp:
                raise
            print(f"building {ext.name} without OpenMP: its kernels run on one thread")
            ext.extra_compile_args, ext.extra_link_args = list(flags), []
            super().build_extension(ext)


setup(
    ext_modules=[
        Extension(
            "rnnkit.layers.fused._kernels",
            ["src/rnnkit/layers/fused/_kernels.cpp"],
            extra_compile_args=flags,
            language="c++",
            optional=True,
        )
    ],
    cmdclass={"build_ext": BuildWithOpenMP},
)
