"""Provenance records and atomic writes for the files the analysis writes.

The implementation lives in :mod:`pidlib.io` (one copy for the run store, the analysis and
the zoo); this module keeps the names the analysis imports.
"""
from __future__ import annotations

from pidlib.io import (  # noqa: F401
    PACKAGES as _PACKAGES,
    atomic_write_bytes,
    atomic_write_text,
    package_versions,
    provenance,
    sidecar,
    write_json,
)

__all__ = ["package_versions", "provenance", "atomic_write_bytes", "atomic_write_text", "write_json", "sidecar"]
