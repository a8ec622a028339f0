"""Cython extension modules of the hot path. Nothing else lives here.

Built in place by `make build` (python setup.py build_ext --inplace). Compiler directives are set
once, here: modules must not override them. `HOTPATH_ONLY=hotpath.book,hotpath.signals` limits a
build to some modules (a development convenience when several people edit the tree at once).
"""

import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent

COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "initializedcheck": False,
    "cdivision": True,  # C semantics for / and %: callers guard zero and sign explicitly
    "nonecheck": False,
    "overflowcheck": False,
    "embedsignature": True,
}

# Determinism: no fast-math, no FMA contraction, so float transients in quote math round the
# same way on every build. -O3 for the kernels; -march is left generic so results and wheels
# are portable between machines of a cluster.
EXTRA_COMPILE_ARGS = [
    "-O3",
    "-ffp-contract=off",
    "-fno-fast-math",
    "-fno-strict-aliasing",
    "-Wno-unused-function",
]


# Libraries a module links besides Python's: the order path signs with OpenSSL's SHA-256 (the
# libcrypto Python's own hashlib uses; headers from Debian's libssl-dev).
LIBRARIES = {"trading.engine.gateway.order_wire": ["crypto"]}


def hotpath_modules() -> list[str]:
    """hotpath/**/*.pyx, the node's compiled decoders (trading/**/*.pyx) and the compiled timing
    loops of the benchmarks (bench/*.pyx)."""
    names = []
    sources = [
        *(ROOT / "hotpath").rglob("*.pyx"),
        *(ROOT / "trading").rglob("*.pyx"),
        *(ROOT / "bench").glob("*.pyx"),
    ]
    for pyx in sorted(sources):
        rel = pyx.relative_to(ROOT).with_suffix("")
        names.append(".".join(rel.parts))
    return names


def extensions() -> list[Extension]:
    only = {m.strip() for m in os.environ.get("HOTPATH_ONLY", "").split(",") if m.strip()}
    result = []
    for name in hotpath_modules():
        if only and name not in only:
            continue
        result.append(
            Extension(
                name,
                [str(Path(*name.split(".")).with_suffix(".pyx"))],
                include_dirs=[numpy.get_include(), str(ROOT / "hotpath" / "vendor"), str(ROOT / "hotpath")],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=EXTRA_COMPILE_ARGS,
                libraries=LIBRARIES.get(name, []),
            )
        )
    return result


setup(
    name="atomic-ops-hotpath",
    ext_modules=cythonize(
        extensions(),
        compiler_directives=COMPILER_DIRECTIVES,
        include_path=[str(ROOT)],
        nthreads=int(os.environ.get("CYTHON_NTHREADS", "2")),
    ),
    packages=[],  # build_ext only: the Python packages run from the source tree
    zip_safe=False,
)
