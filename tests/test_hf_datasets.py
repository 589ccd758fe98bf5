"""Issue 15: Hugging Face `datasets` loads the pair and dataset folders exactly as
docs/python-api.md shows: the documented code block is run as written, from a folder holding a
workspace laid out as make-pairs and build-dataset lay it out (two associations; artist with a
train and a validation split), and each association/split comes back as its own split."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_train_data import write_stored_pairs

from discogs_tools.train.data import Pairs
from discogs_tools.workspace import Workspace

datasets = pytest.importorskip("datasets", reason="Hugging Face datasets is a test extra: pip install -e '.[test]'")

REPO = Path(__file__).resolve().parents[1]


def documented_block() -> str:
    page = (REPO / "docs" / "python-api.md").read_text(encoding="utf-8")
    section = page.split("## Hugging Face `datasets`", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


def test_documented_load_dataset_calls_give_one_split_per_association_split(tmp_path, monkeypatch):
    ws = Workspace(tmp_path / "workspace")
    train = {0: Pairs(["a", "b", "c"], ["b", "c", "a"]), 1: Pairs(["a", "c"], ["c", "b"])}
    write_stored_pairs(ws, "demo", "artist", {"train": train, "validation": {0: Pairs(["v1"], ["v2"])}})
    write_stored_pairs(ws, "demo", "label", {"train": {0: Pairs(["x", "y"], ["y", "x"])}})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    names: dict = {}
    exec(compile(documented_block(), "docs/python-api.md", "exec"), names)  # noqa: S102 - the documented code
    artist = names["artist"]
    assert sorted(artist) == ["train", "validation"]
    assert artist["train"].num_rows == 5 and artist["validation"].num_rows == 1     # both epochs, no label pairs
    assert sorted(artist["train"]["epoch"]) == [0, 0, 0, 1, 1]
    assert set(artist["train"]["association"]) == {"artist"}
    assert {"anchor", "positive", "epoch"} <= set(artist["train"].column_names)
    label = names["label"]
    assert list(label) == ["train"] and label["train"].num_rows == 2 and set(label["train"]["association"]) == {"label"}
    tracks = names["tracks"]["train"]
    assert "split" in tracks.column_names and tracks.num_rows == 2        # the last build's tracks (x, y)
