"""Render ``environment.yml`` from ``requirements.lock`` so the two state the same pins.

Run ``python -m pidlib.envfile requirements.lock > environment.yml`` (``make env-yml``).
``tests/test_environment.py`` fails when the two files disagree.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

PYTHON = "3.11"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")


def read_lock(path: str | Path) -> dict[str, str]:
    """Return ``{normalized name: version}`` for every ``name==version`` line of a lock file."""
    pins: dict[str, str] = {}
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _PIN.match(line)
        if not m:
            raise ValueError(f"{path}:{lineno}: not an exact pin 'name==version': {raw!r}")
        pins[normalize(m.group(1))] = m.group(2)
    return pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def render(pins: dict[str, str]) -> str:
    lines = [
        "# Generated from requirements.lock by `make env-yml`; do not edit by hand.",
        "name: pidlib-book",
        "channels:",
        "  - conda-forge",
        "dependencies:",
        f"  - python={PYTHON}",
        "  - pip",
        "  - pip:",
    ]
    lines += [f"      - {name}=={version}" for name, version in sorted(pins.items())]
    lines.append("      - -e .")
    return "\n".join(lines) + "\n"


def read_environment_yml(path: str | Path) -> dict[str, str]:
    """Return the pip pins listed in an ``environment.yml`` written by :func:`render`."""
    pins: dict[str, str] = {}
    for raw in Path(path).read_text().splitlines():
        m = re.match(r"^\s+-\s+([A-Za-z0-9_.\-]+)==(\S+)\s*$", raw)
        if m:
            pins[normalize(m.group(1))] = m.group(2)
    return pins


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(render(read_lock(sys.argv[1] if len(sys.argv) > 1 else "requirements.lock")))
