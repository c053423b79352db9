"""Declared dependencies match what the code imports: every third-party import of the package, the assets and the
resources comes from a distribution named in pyproject.toml, and every declared one is imported or listed below
with the reason it is needed without an import."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"cosavatar_pipeline", "assets", "resources", "__future__"}
NEEDED_WITHOUT_AN_IMPORT = {
    "dagster-postgres": "named in dagster.yaml's storage when DAGSTER_POSTGRES_URL is set",
    "dagster-webserver": "`make ui` runs `dagster dev`",
    "protobuf": "pinned below 5 for mediapipe 0.10.21",
    "pyarrow": "pandas' parquet engine",
    "transformers": "diffusers loads IP2P's CLIP text encoder with it",
}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def _declared() -> set[str]:
    specs = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_normalise(re.split(r"[<>=\[;~! ]", spec, maxsplit=1)[0]) for spec in specs}


def _imported_top_levels() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in ("cosavatar_pipeline", "assets", "resources"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(PROJECT_ROOT)))
    return {top: files for top, files in found.items() if top not in sys.stdlib_module_names | FIRST_PARTY}


def test_every_import_is_declared_and_every_declaration_is_used():
    declared, distributions = _declared(), packages_distributions()
    imported = _imported_top_levels()
    undeclared = {
        top: sorted(files)[:2]
        for top, files in imported.items()
        if not {_normalise(d) for d in distributions.get(top, [])} & declared
    }
    assert undeclared == {}
    used = {_normalise(d) for top in imported for d in distributions.get(top, [])}
    assert declared - used - set(NEEDED_WITHOUT_AN_IMPORT) == set()
