"""DESIGN import rule for the compiled hot path: hotpath imports only numpy, libc and itself.

import-linter reads Python files only; this checks every .pyx and .pxd (imports and cimports).
"""

import re
from pathlib import Path

HOTPATH = Path(__file__).resolve().parents[2] / "hotpath"
# cpython: the C-API, used only by the Python-facing wrapper classes (e.g. building bytes)
ALLOWED_ROOTS = {"numpy", "libc", "hotpath", "cython", "cpython"}
STATEMENT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))", re.MULTILINE)
FORBIDDEN_CALLS = (
    "time.time",
    "datetime.now",
    "clock_gettime",
    "gettimeofday",
    "print(",
    "logging.",
    "random.",
)


def sources() -> list[Path]:
    return sorted([*HOTPATH.rglob("*.pyx"), *HOTPATH.rglob("*.pxd")])


def test_hotpath_sources_exist():
    names = {p.name for p in sources()}
    assert {"book.pyx", "engine.pyx", "risk.pyx", "orders.pyx", "matching.pyx", "signals.pyx"} <= names


def test_hotpath_imports_only_numpy_libc_and_itself():
    offenders = []
    for path in sources():
        text = path.read_text()
        for match in STATEMENT.finditer(text):
            module = match.group(1) or match.group(2)
            if module.split(".")[0] not in ALLOWED_ROOTS:
                offenders.append(f"{path.relative_to(HOTPATH.parent)}: {module}")
    assert offenders == []


def test_hotpath_has_no_wall_clock_logging_or_randomness():
    offenders = [
        f"{path.relative_to(HOTPATH.parent)}: {needle}"
        for path in sources()
        for needle in FORBIDDEN_CALLS
        if needle in path.read_text()
    ]
    assert offenders == []


def test_directives_are_set_once_in_setup_py():
    offenders = [
        str(path.relative_to(HOTPATH.parent))
        for path in sources()
        if re.search(r"^#\s*cython:", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []
