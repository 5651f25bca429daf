"""Compiles the enrichment pipeline with mypyc where the machine has a C compiler.

Everything else about the package is in pyproject.toml. The pipeline's steps are pure, typed
Python (`services/enrich/steps/`, `services/enrich/pipeline.py`); compiled to C extensions they
run about 1.3x faster (`make bench-pipeline` prints which form it measured). Where compiling
fails (no compiler, no Python headers) the extensions are optional: the install goes on and the
same modules run as Python. PIVOTWATCH_COMPILE=0 skips compiling.

Next to the sources goes `services/enrich/compiled.json`, the SHA-256 of each compiled module's
source: `services/enrich/__init__.py` runs the sources instead of the extensions when any of them
has changed since (an editable install after an edit), so a stale build never runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
# Not the package's `__init__.py`: mypyc would set a compiled package's `__path__` from where
# the group's shared library lies (`services/enrich/`), not where the package is.
SOURCES = sorted(
    [
        *(p for p in (ROOT / "services/enrich/steps").glob("*.py") if p.name != "__init__.py"),
        ROOT / "services/enrich/pipeline.py",
    ]
)
RECORD = ROOT / "services/enrich/compiled.json"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _extensions() -> list[object]:
    RECORD.unlink(missing_ok=True)
    if os.environ.get("PIVOTWATCH_COMPILE", "1") == "0":
        return []
    from mypyc.build import mypycify

    extensions = mypycify(
        [
            # The project's mypy configuration loads plugins of packages an isolated build does
            # not have; the sources are checked by `make check`, this only compiles them.
            "--config-file=",
            "--ignore-missing-imports",
            "--follow-imports=silent",
            *(str(p.relative_to(ROOT)) for p in SOURCES),
        ],
        group_name="services.enrich._native",
    )
    for extension in extensions:
        extension.optional = True  # a failed compile leaves the Python modules in place
    RECORD.write_text(
        json.dumps(
            {_module(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in SOURCES},
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    return extensions


setup(ext_modules=_extensions())
