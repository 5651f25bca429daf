"""Enrichment: the pure pipeline (`pipeline`, `steps`) and the workers that store its output.

The pipeline's modules may be compiled by mypyc at install time (setup.py). Before any of them is
imported, this package decides which form runs (`buildinfo.state`): the compiled one only when
the whole build is there, loads and was built from the sources as they are now; otherwise every
module runs from its source, as it does with PIVOTWATCH_PURE_PYTHON=1. `BUILD` says which, and
why; `COMPILED` is whether the compiled form runs.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import logging
import os
import sys
from pathlib import Path

from services.enrich.buildinfo import COMPILED as _COMPILED
from services.enrich.buildinfo import SourceFinder, compiled_sources, state

_ROOT = Path(__file__).resolve().parents[2]


def _built_from() -> dict[str, str]:
    """The record compiled into the build (ImportError unless it comes from the build)."""
    module = importlib.import_module("services.enrich._build")
    origin = getattr(module.__spec__, "origin", None) or ""
    if not origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        raise ImportError(f"{origin} is not an extension module")
    recorded: dict[str, str] = module.SOURCES
    return recorded


BUILD = state(_ROOT, forced=os.environ.get("PIVOTWATCH_PURE_PYTHON") == "1", built_from=_built_from)
COMPILED = BUILD == _COMPILED
if not COMPILED:
    sys.meta_path.insert(0, SourceFinder(compiled_sources(_ROOT)))
    if BUILD.startswith(("python: changed", "python: the build")):
        logging.getLogger(__name__).warning(
            "the enrichment pipeline runs as Python, not compiled: %s; `make install` compiles "
            "it again",
            BUILD.removeprefix("python: "),
        )
