"""The lessons as files: committed clean, one repository URL everywhere, the conventions of GUIDE §6.

Executing them is the other half: `make test` runs every notebook with nbval in the ci profile.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPOSITORY = re.search(r'^Repository = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def cells(path, kind=None):
    notebook = json.loads(path.read_text())
    return [c for c in notebook["cells"] if kind is None or c["cell_type"] == kind]


def source(cell):
    return "".join(cell["source"])


def test_there_are_lessons():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"{i:02d}_" for i in range(8)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    for cell in cells(path, "code"):
        assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_badge_and_install_cell_name_the_one_repository(path):
    github = REPOSITORY.removeprefix("https://github.com/")
    badge = f"https://colab.research.google.com/github/{github}/blob/main/notebooks/{path.name}"
    assert badge in source(cells(path, "markdown")[0]), f"{path.name}: the Colab badge must point at {badge}"
    setup = source(cells(path, "code")[0])
    assert f"git+{REPOSITORY}" in setup, f"{path.name}: the install cell must install from {REPOSITORY}"
    urls = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", path.read_text()))
    assert urls <= {REPOSITORY}, f"{path.name} names another repository: {urls - {REPOSITORY}}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_tagged_setup_reading_the_profile(path):
    setup = cells(path, "code")[0]
    assert "parameters" in setup["metadata"].get("tags", [])
    assert 'os.environ.get("LTKIT_PROFILE", "class")' in source(setup)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_lesson_asserts_its_claim_and_offers_exercises(path):
    assert any(source(c).lstrip().startswith("## Check") for c in cells(path, "markdown"))
    assert any("assert " in source(c) for c in cells(path, "code"))
    if not path.stem.startswith("00"):
        assert any("<details><summary>Solution" in source(c) for c in cells(path, "markdown"))
