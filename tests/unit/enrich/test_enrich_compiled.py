"""The pipeline compiled by mypyc (setup.py) and as Python: one output, and no stale build runs.

`services.enrich.plan` decides at import which form runs; a compiled module built from a source
that has changed since must not run (an editable install after an edit), nor any of the others,
which call each other directly.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import inspect
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import services.enrich
from services.enrich import SourceFinder, plan
from services.enrich.steps import screen
from tests.unit.enrich.test_enrich_golden import GOLDEN

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(services.enrich.__file__).resolve().parent
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _fake_build(tmp: Path, sources: dict[str, str], *, recorded: dict[str, str]) -> Path:
    """A package folder as setup.py leaves it: sources, the shared library, the record."""
    (tmp / "steps").mkdir()
    for relative, text in sources.items():
        (tmp / relative).write_text(text)
    (tmp / f"_native__mypyc{SUFFIX}").write_bytes(b"")
    (tmp / "compiled.json").write_text(json.dumps(recorded))
    return tmp


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_build_of_the_current_sources_runs(tmp_path: Path) -> None:
    here = _fake_build(
        tmp_path,
        {"pipeline.py": "A = 1\n", "steps/screen.py": "B = 2\n"},
        recorded={
            "services.enrich.pipeline": _sha("A = 1\n"),
            "services.enrich.steps.screen": _sha("B = 2\n"),
        },
    )
    assert plan(here, forced=False) == (True, {})


def test_one_changed_source_runs_every_module_from_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    here = _fake_build(
        tmp_path,
        {"pipeline.py": "A = 1\n", "steps/screen.py": "B = 3\n"},
        recorded={
            "services.enrich.pipeline": _sha("A = 1\n"),
            "services.enrich.steps.screen": _sha("B = 2\n"),
        },
    )
    with caplog.at_level(logging.WARNING, logger="services.enrich"):
        compiled, sources = plan(here, forced=False)
    assert not compiled
    assert sources == {
        "services.enrich.pipeline": here / "pipeline.py",
        "services.enrich.steps.screen": here / "steps/screen.py",
    }
    assert "services.enrich.steps.screen" in caplog.text and "make install" in caplog.text


def test_the_sources_can_be_asked_for(tmp_path: Path) -> None:
    here = _fake_build(
        tmp_path, {"pipeline.py": "A = 1\n"}, recorded={"services.enrich.pipeline": _sha("A = 1\n")}
    )
    assert plan(here, forced=True) == (False, {"services.enrich.pipeline": here / "pipeline.py"})


def test_no_shared_library_means_python_only(tmp_path: Path) -> None:
    here = _fake_build(
        tmp_path, {"pipeline.py": "A = 1\n"}, recorded={"services.enrich.pipeline": _sha("A = 1\n")}
    )
    (here / f"_native__mypyc{SUFFIX}").unlink()  # the compiler failed: the record alone
    assert plan(here, forced=False) == (False, {})
    (here / "compiled.json").unlink()
    assert plan(here, forced=False) == (False, {})


def test_the_source_finder_loads_the_listed_module_from_its_source(tmp_path: Path) -> None:
    source = tmp_path / "anything.py"
    source.write_text("WHERE = 'source'\n")
    finder = SourceFinder({"pivotwatch_test_only_module": source})
    assert finder.find_spec("some.other.module", None) is None
    spec = finder.find_spec("pivotwatch_test_only_module", None)
    assert spec is not None and spec.origin == str(source) and spec.loader is not None


def test_what_was_built_here_is_what_runs() -> None:
    built = any(
        (HERE / f"_native__mypyc{s}").exists() for s in importlib.machinery.EXTENSION_SUFFIXES
    )
    if os.environ.get("PIVOTWATCH_PURE_PYTHON") == "1":
        pytest.skip("PIVOTWATCH_PURE_PYTHON=1 asks for the Python form")
    assert built is services.enrich.COMPILED
    # A compiled function is not a Python function object.
    assert inspect.isfunction(screen.fold) == (not built)


def test_the_python_form_gives_the_pinned_output_too() -> None:
    """The golden output, computed in a process that runs the pipeline's sources."""
    script = (
        "import json, services.enrich as e\n"
        "assert not e.COMPILED\n"
        "import services.enrich.pipeline as p\n"
        "assert p.__file__.endswith('pipeline.py'), p.__file__\n"
        "from tests.unit.enrich.test_enrich_golden import _outputs\n"
        "print(json.dumps(_outputs()))\n"
    )
    env = {**os.environ, "PIVOTWATCH_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(GOLDEN.read_text())
