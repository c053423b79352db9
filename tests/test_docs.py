"""The README stays a user's page: short, its figures generated from the committed results, its links alive."""

import re
from pathlib import Path

from benchmarks import readme_figures

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_is_short_and_its_figures_come_from_the_results():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert readme_figures.with_table(readme) == readme, "README.md's figures are out of date: run `make docs`"
    assert readme_figures.table().count("\n") >= 10  # every result file gave its rows


def test_every_page_the_docs_link_to_exists():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"
