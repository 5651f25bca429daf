"""Which modules setup.py compiles with mypyc, and whether that build may run.

The standard library only: setup.py loads this file by its path, before anything is installed.
A build runs only when all of it is there (the group's shared library, one extension per module
and `_build`, the record of the sources it was built from), it loads, and that record matches the
sources and the project modules whose types it relies on. Anything else runs every module from
its source: compiled modules call each other directly, so one stale or missing module must not
mix with the others.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

COMPILED = "compiled"
LIB = (
    "_native__mypyc"  # setup.py's group name "services.enrich._native", as mypyc names its library
)
# Project modules the compiled ones import: mypyc compiles their types into the build.
DEPENDS = ("shared/dates.py", "shared/events.py")


def compiled_sources(root: Path) -> dict[str, Path]:
    """{module: source} of the modules setup.py compiles (not the steps package's `__init__`:
    mypyc would set a compiled package's `__path__` from where its shared library lies)."""
    enrich = root / "services" / "enrich"
    paths = [
        *sorted(p for p in (enrich / "steps").glob("*.py") if p.name != "__init__.py"),
        enrich / "pipeline.py",
    ]
    return {".".join(p.relative_to(root).with_suffix("").parts): p for p in paths}


def digests(root: Path) -> dict[str, str]:
    """{path relative to `root`: SHA-256 prefix} of the compiled sources and their dependencies."""
    paths = [*compiled_sources(root).values(), *(root / d for d in DEPENDS)]
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()[:32]
        for p in sorted(paths)
        if p.exists()
    }


def _extension_exists(stem: Path) -> bool:
    return any(
        stem.with_name(stem.name + s).exists() for s in importlib.machinery.EXTENSION_SUFFIXES
    )


def state(root: Path, *, forced: bool, built_from: Callable[[], dict[str, str]]) -> str:
    """ "compiled" when the build may run, else "python: <why>". `built_from` loads the build's
    record (ImportError if it cannot); `forced` asks for the sources whatever was built."""
    enrich = root / "services" / "enrich"
    parts = [
        enrich / LIB,
        enrich / "_build",
        *(p.with_suffix("") for p in compiled_sources(root).values()),
    ]
    present = [_extension_exists(p) for p in parts]
    if forced:
        return "python: PIVOTWATCH_PURE_PYTHON=1"
    if not any(present):
        return "python: not compiled"
    if not all(present):
        missing = [
            p.relative_to(root).as_posix() for p, ok in zip(parts, present, strict=True) if not ok
        ]
        return "python: the build is incomplete (no " + ", ".join(missing) + ")"
    try:
        recorded = built_from()
    except ImportError as exc:
        return f"python: the build does not load ({exc})"
    current = digests(root)
    changed = sorted(
        p for p in current.keys() | recorded.keys() if current.get(p) != recorded.get(p)
    )
    if changed:
        return "python: changed since the build: " + ", ".join(changed)
    return COMPILED


class SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the listed modules as their `.py` sources, ahead of the extensions beside them."""

    def __init__(self, sources: dict[str, Path]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)
