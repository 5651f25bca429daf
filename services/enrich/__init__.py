"""Enrichment: the pure pipeline (`pipeline`, `steps`) and the workers that store its output.

The pipeline's modules may be compiled by mypyc at install time (see setup.py), with the source
hashes they were built from in `compiled.json`. Before any of them is imported, this package
checks those hashes: if a source has changed since the build (an edit after an editable install),
or PIVOTWATCH_PURE_PYTHON=1 is set, every compiled module is loaded from its source instead --
all of them, since compiled modules call each other directly. `COMPILED` says which form runs.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).resolve().parent


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
        package = [str(source.parent)] if source.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(
            fullname, source, submodule_search_locations=package
        )


def _source_of(here: Path, module: str) -> Path:
    relative = Path(*module.split(".")[2:])  # below services/enrich
    package = here / relative / "__init__.py"
    return package if package.exists() else (here / relative).with_suffix(".py")


def _built(here: Path) -> dict[str, str]:
    """{module: source SHA-256} of the compiled modules present, or {} if there are none."""
    try:
        record: dict[str, str] = json.loads((here / "compiled.json").read_text())
    except (OSError, ValueError):
        return {}
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    if not any((here / f"_native__mypyc{s}").exists() for s in suffixes):
        return {}  # recorded, but the compiler failed or was not there: Python modules only
    return record


def plan(here: Path, *, forced: bool) -> tuple[bool, dict[str, Path]]:
    """(whether the compiled modules run, the modules to load from source instead).

    `here` is this package's folder; `forced` asks for the sources whatever was built.
    """
    built = _built(here)
    if not built:
        return False, {}
    sources = {module: _source_of(here, module) for module in built}
    changed = [
        module
        for module, digest in built.items()
        if not sources[module].exists()
        or hashlib.sha256(sources[module].read_bytes()).hexdigest() != digest
    ]
    if not changed and not forced:
        return True, {}
    if changed:
        logging.getLogger(__name__).warning(
            "the compiled enrichment modules are older than their sources (%s): running the "
            "sources; `make install` compiles them again",
            ", ".join(sorted(changed)),
        )
    return False, {m: path for m, path in sources.items() if path.exists()}


# True when the pipeline runs as compiled extensions, False when it runs as Python.
COMPILED, _redirected = plan(_HERE, forced=os.environ.get("PIVOTWATCH_PURE_PYTHON") == "1")
if _redirected:
    sys.meta_path.insert(0, SourceFinder(_redirected))
