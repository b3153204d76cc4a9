"""The compiled kernels of assaykit.gating (assaykit/gating/_kernels.c); everything else about the
build is in pyproject.toml. Compiled without floating-point contraction (no fused multiply-add), so
that each product and sum is rounded as numpy rounds it: assaykit/gating/kernels.py has the numpy
equivalents, and tests compare the two bit for bit."""

import sys

from setuptools import Extension, setup

NO_CONTRACTION = [] if sys.platform == "win32" else ["-ffp-contract=off"]  # MSVC does not contract by default

setup(ext_modules=[Extension("assaykit.gating._kernels", ["assaykit/gating/_kernels.c"],
                             extra_compile_args=NO_CONTRACTION)])
