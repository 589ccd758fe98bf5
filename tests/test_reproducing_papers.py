"""docs/reproducing-papers.md and the paper pipelines cannot drift apart.

Each table of the page lists settings with *our pipeline value* written as
`` `[pipeline/]stage.option = value` `` (``stage``: a stage name or a command; without a pipeline
prefix the value holds for every pipeline of the section's "Pipelines:" line having such a stage
with that option). This test reads those values and the pipeline files and fails when

- a documented value differs from the file, or names a stage or option no pipeline has;
- a recipe option set in a paper pipeline is documented nowhere (plumbing such as run names,
  folders, seeds and worker counts is exempt);
- a paper pipeline has no section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from discogs_tools.pipeline import load_pipeline
from discogs_tools.resources import resource_dir

DOC = Path(__file__).resolve().parents[1] / "docs" / "reproducing-papers.md"
# Options that say where things go or how fast they run, not what the recipe is.
PLUMBING = {"run", "features", "dataset", "name", "seed", "force", "workers", "split", "against",
            "w2v_vectors", "word2vec"}
TOKEN = re.compile(r"`(?:(?P<pipeline>[a-z0-9_]+)/)?(?P<stage>[a-z0-9-]+)\.(?P<option>[a-z0-9_]+) = (?P<value>[^`]+)`")


@dataclass(frozen=True)
class Claim:
    section: str
    pipelines: tuple[str, ...]
    stage: str
    option: str
    value: str

    def __str__(self) -> str:
        return f"[{self.section}] {self.stage}.{self.option} = {self.value}"


def _cells(row: str) -> list[str]:
    """The cells of a Markdown table row (``\\|`` is a literal bar)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def parse_doc(text: str) -> list[Claim]:
    """Every documented pipeline value of the page, with the pipelines it applies to."""
    claims: list[Claim] = []
    section, pipelines = "", ()
    for line in text.splitlines():
        if line.startswith("## "):
            section, pipelines = line[3:].strip(), ()
        elif line.startswith("Pipelines:"):
            pipelines = tuple(re.findall(r"`([a-z0-9_]+)`", line))
        elif line.startswith("|") and pipelines:
            cells = _cells(line)
            if len(cells) < 3 or cells[0] in ("setting", "---"):
                continue
            for m in TOKEN.finditer(cells[2]):
                targets = (m["pipeline"],) if m["pipeline"] else pipelines
                claims.append(Claim(section, targets, m["stage"], m["option"], m["value"].strip()))
    return claims


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def _same(documented: str, actual: str) -> bool:
    try:
        return float(documented) == float(actual)
    except ValueError:
        return documented == actual


@cache
def _stages(name: str, ws: Path):
    return load_pipeline(name, ws).stages


def check(claims: list[Claim], ws: Path) -> list[str]:
    """Problems: documented values that differ from, or are absent in, the pipeline files."""
    problems = []
    for claim in claims:
        found = 0
        for name in claim.pipelines:
            for stage in _stages(name, ws):
                if claim.stage not in (stage.name, stage.command):
                    continue
                options = dict(stage.options)
                if claim.option not in options:
                    continue
                found += 1
                actual = _text(options[claim.option])
                if not _same(claim.value, actual):
                    problems.append(f"{claim}: {name} stage {stage.name} has {actual}")
        if not found:
            problems.append(f"{claim}: no stage of {', '.join(claim.pipelines)} sets it")
    return problems


def undocumented(claims: list[Claim], pipelines: list[str], ws: Path) -> list[str]:
    """Recipe options of the pipelines that no documented value covers."""
    missing = []
    for name in pipelines:
        for stage in _stages(name, ws):
            for option in dict(stage.options):
                if option in PLUMBING:
                    continue
                if not any(name in c.pipelines and c.option == option and c.stage in (stage.name, stage.command)
                           for c in claims):
                    missing.append(f"{name} stage {stage.name}: {option}")
    return missing


def paper_pipelines() -> list[str]:
    return sorted(p.stem for p in resource_dir("pipelines").glob("*.toml") if p.stem != "demo")


@pytest.fixture(scope="module")
def claims() -> list[Claim]:
    return parse_doc(DOC.read_text(encoding="utf-8"))


def test_the_page_documents_values(claims):
    assert len(claims) > 100
    assert {c.section for c in claims} >= {"ISMIR 2022: COLA models", "ICASSP 2023: pre-training",
                                           "Discogs20 and its style model"}


def test_every_documented_value_is_the_pipelines_value(claims, tmp_path):
    assert check(claims, tmp_path / "ws") == []


def test_every_recipe_option_of_a_paper_pipeline_is_documented(claims, tmp_path):
    assert undocumented(claims, paper_pipelines(), tmp_path / "ws") == []


def test_every_paper_pipeline_has_a_section(claims):
    documented = {p for c in claims for p in c.pipelines}
    assert set(paper_pipelines()) <= documented


def test_a_changed_value_is_caught(claims, tmp_path):
    """The checks above see drift in either direction: a documented value that no longer matches,
    one that names nothing, and an option that is not documented."""
    text = DOC.read_text(encoding="utf-8")
    assert "`train.lr = 0.0001`" in text
    drifted = parse_doc(text.replace("`train.lr = 0.0001`", "`train.lr = 0.0002`"))
    problems = check(drifted, tmp_path / "ws")
    assert problems and all("0.0002" in p for p in problems)
    assert any("icassp2023_co stage train-vggish has 0.0001" in p for p in problems)
    ghost = parse_doc(text.replace("`train.temperature = 0.1`", "`train.temprature = 0.1`"))
    assert any("no stage" in p for p in check(ghost, tmp_path / "ws"))
    assert "icassp2023_co stage train-vggish: temperature" in undocumented(ghost, ["icassp2023_co"], tmp_path / "ws")


def test_cells_keep_escaped_bars():
    assert _cells("| a | b \\|p\\| c | `x.y = 1` |") == ["a", "b \\|p\\| c", "`x.y = 1`"]
