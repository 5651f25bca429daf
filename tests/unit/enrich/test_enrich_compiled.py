"""The pipeline compiled by mypyc (setup.py) and as Python: one output, and no stale build runs.

`services.enrich.buildinfo.state` decides at import which form runs: the compiled one only when
the whole build is there, loads and was built from the sources as they are now.
"""

from __future__ import annotations

import importlib.machinery
import inspect
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

import services.enrich
from services.enrich.buildinfo import LIB, SourceFinder, compiled_sources, digests, state
from tests.unit.enrich.test_enrich_golden import GOLDEN

ROOT = Path(__file__).resolve().parents[3]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _tree(tmp: Path) -> Path:
    """A project tree with two compiled modules and the modules whose types they use."""
    for relative, text in {
        "services/enrich/pipeline.py": "A = 1\n",
        "services/enrich/steps/__init__.py": "",
        "services/enrich/steps/screen.py": "B = 2\n",
        "shared/dates.py": "C = 3\n",
        "shared/events.py": "D = 4\n",
    }.items():
        (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp / relative).write_text(text)
    return tmp


def _build(root: Path, *, skip: str = "") -> None:
    """The extensions setup.py leaves (empty files: `state` only looks for them)."""
    enrich = root / "services" / "enrich"
    stems = [enrich / LIB, enrich / "_build", enrich / "pipeline", enrich / "steps" / "screen"]
    for stem in stems:
        if stem.name != skip:
            stem.with_name(stem.name + SUFFIX).write_bytes(b"")


def _recorded(root: Path) -> Callable[[], dict[str, str]]:
    found = digests(root)
    return lambda: found


def test_the_modules_compiled_are_the_steps_and_the_pipeline(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert compiled_sources(root) == {
        "services.enrich.pipeline": root / "services/enrich/pipeline.py",
        "services.enrich.steps.screen": root / "services/enrich/steps/screen.py",
    }
    assert set(digests(root)) == {
        "services/enrich/pipeline.py",
        "services/enrich/steps/screen.py",
        "shared/dates.py",
        "shared/events.py",
    }


def test_a_whole_build_of_the_current_sources_runs(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _build(root)
    assert state(root, forced=False, built_from=_recorded(root)) == "compiled"


def test_no_build_runs_python(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert state(root, forced=False, built_from=_recorded(root)) == "python: not compiled"


@pytest.mark.parametrize(
    "edited", ["services/enrich/steps/screen.py", "shared/events.py"], ids=["source", "its-types"]
)
def test_a_changed_source_or_dependency_runs_python(tmp_path: Path, edited: str) -> None:
    root = _tree(tmp_path)
    _build(root)
    built_from = _recorded(root)
    (root / edited).write_text("changed = True\n")
    assert state(root, forced=False, built_from=built_from) == (
        f"python: changed since the build: {edited}"
    )


def test_a_build_with_a_module_the_sources_no_longer_have_runs_python(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _build(root)
    recorded = {**digests(root), "services/enrich/steps/gone.py": "0" * 32}
    assert state(root, forced=False, built_from=lambda: recorded).endswith("steps/gone.py")


@pytest.mark.parametrize("missing", [LIB, "_build", "screen"])
def test_an_incomplete_build_runs_python(tmp_path: Path, missing: str) -> None:
    root = _tree(tmp_path)
    _build(root, skip=missing)
    assert state(root, forced=False, built_from=_recorded(root)).startswith(
        "python: the build is incomplete"
    )


def test_a_build_that_does_not_load_runs_python(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _build(root)

    def broken() -> dict[str, str]:
        raise ImportError("undefined symbol")

    assert state(root, forced=False, built_from=broken) == (
        "python: the build does not load (undefined symbol)"
    )


def test_the_sources_can_be_asked_for(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _build(root)
    assert state(root, forced=True, built_from=_recorded(root)) == (
        "python: PIVOTWATCH_PURE_PYTHON=1"
    )


def test_the_source_finder_loads_the_listed_modules_from_their_sources(tmp_path: Path) -> None:
    source = tmp_path / "anything.py"
    source.write_text("WHERE = 'source'\n")
    finder = SourceFinder({"pivotwatch_test_only_module": source})
    assert finder.find_spec("some.other.module", None) is None
    spec = finder.find_spec("pivotwatch_test_only_module", None)
    assert spec is not None and spec.origin == str(source)
    assert spec.submodule_search_locations is None  # a module, not a package
    assert isinstance(spec.loader, importlib.machinery.SourceFileLoader)


def test_every_module_runs_in_the_one_form_chosen() -> None:
    """All compiled, or all from their sources: never a mix."""
    for name, source in compiled_sources(ROOT).items():
        module = sys.modules.get(name) or __import__(name, fromlist=["_"])
        from_source = module.__spec__ is not None and module.__spec__.origin == str(source)
        assert from_source is not services.enrich.COMPILED, (name, services.enrich.BUILD)
    from services.enrich.steps import screen

    assert inspect.isfunction(screen.fold) is not services.enrich.COMPILED


def test_the_install_compiled_the_pipeline_where_it_could() -> None:
    """Where `make install` found a C compiler and the Python headers, the build is there (CI)."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    if not (shutil.which(compiler) and headers.exists()):
        pytest.skip("no C compiler or Python headers here: the pipeline runs as Python")
    if os.environ.get("PIVOTWATCH_COMPILE") == "0":
        pytest.skip("PIVOTWATCH_COMPILE=0")
    assert services.enrich.BUILD != "python: not compiled"


def test_the_python_form_gives_the_pinned_output_too() -> None:
    """The golden output, computed in a process that runs the pipeline's sources (the in-process
    golden test covers the form this process runs, compiled where it was built)."""
    script = (
        "import json, services.enrich as e\n"
        "assert not e.COMPILED, e.BUILD\n"
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
