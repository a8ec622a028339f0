"""Print the pinned requirements from pyproject.toml, one per line, for `pip install -r`.

The project is not pip-installed (the hot path is compiled in place by setup.py), so the
Makefile installs exactly these pins. Usage: python tools/deps.py [--dev]
"""

import sys
import tomllib
from pathlib import Path


def main(argv: list[str]) -> int:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())[
        "project"
    ]
    requirements = list(project["dependencies"])
    if "--dev" in argv:
        requirements += project["optional-dependencies"]["dev"]
    unpinned = [r for r in requirements if "==" not in r]
    if unpinned:
        print(f"unpinned requirements in pyproject.toml: {unpinned}", file=sys.stderr)
        return 1
    print("\n".join(requirements))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
