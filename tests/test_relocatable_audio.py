"""Issue 15: a copied or moved workspace's `features` reads its own collection audio. The
collection root is recorded with collection/tracks (relative to the workspace when the audio lies
inside it, as in the demo); audio paths are resolved against it, and a root given by the user
(`collection_root=`, or DISCOGS_TOOLS_COLLECTION_ROOT) places audio that moved on its own."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from discogs_tools import manifest
from discogs_tools.collection.ingest import run as ingest_run
from discogs_tools.collection.paths import AudioLocator
from discogs_tools.errors import InputError
from discogs_tools.features.extract import run as features_run
from discogs_tools.features.store import FeatureStore
from discogs_tools.workspace import Workspace


def write_audio(folder: Path, n: int = 3, tone: float = 220.0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(16000 * 2) / 16000
    for i in range(n):
        sub = folder / f"Artist {i}" / "Album"
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(sub / f"01 - Song {i}.wav", (0.3 * np.sin(2 * np.pi * (tone + 40 * i) * t)).astype(np.float32), 16000)


def features_of(ws: Workspace, name: str) -> dict[str, np.ndarray]:
    store = FeatureStore(ws.features / name)
    return {t: np.asarray(store.get(t)) for t in store.track_ids}


def test_copied_workspace_reads_the_audio_inside_it(tmp_path: Path):
    original = Workspace(tmp_path / "a" / "workspace")
    write_audio(original.root / "inputs" / "audio", tone=220.0)
    ingest_run(original.root / "inputs" / "audio", original)
    copy = Workspace(tmp_path / "b" / "workspace")
    shutil.copytree(original.root, copy.root)
    write_audio(copy.root / "inputs" / "audio", tone=880.0)     # the copy's audio differs from the original's
    features_run(copy, "f")
    features_run(original, "f")
    ours, theirs = features_of(copy, "f"), features_of(original, "f")
    assert len(ours) == 3 and ours.keys() == theirs.keys()
    assert all(not np.allclose(ours[t], theirs[t]) for t in ours)       # the copy read its own files
    audio = {i["name"]: i for i in manifest.get(copy.manifest_path, "features f")["inputs"]}["audio"]
    assert audio["files"] == 3 and audio["missing"] == 0


def test_moved_workspace_and_moved_audio_with_the_root_given(tmp_path: Path, monkeypatch):
    ws = Workspace(tmp_path / "ws")
    write_audio(tmp_path / "music")
    ingest_run(tmp_path / "music", ws)
    moved = Workspace(tmp_path / "elsewhere" / "ws")
    shutil.move(ws.root, moved.root)
    shutil.move(tmp_path / "music", tmp_path / "disk2-music")
    with pytest.raises(InputError, match="all 3 tracks were rejected"):
        features_run(moved, "f")                        # the recorded root is gone: every file missing
    report = features_run(moved, "f", collection_root=tmp_path / "disk2-music")
    assert report.counts["written"] == 3
    monkeypatch.setenv("DISCOGS_TOOLS_COLLECTION_ROOT", str(tmp_path / "disk2-music"))
    assert features_run(moved, "g").counts["written"] == 3


def test_manifest_collection_is_rooted_at_the_manifest_folder(tmp_path: Path):
    ws = Workspace(tmp_path / "ws")
    audio = ws.root / "demo_inputs" / "collection"
    write_audio(audio)
    rows = [{"path": str(p.relative_to(audio)), "artist": p.parts[-3], "title": p.stem}
            for p in sorted(audio.rglob("*.wav"))]
    with open(audio / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "artist", "title"])
        writer.writeheader()
        writer.writerows(rows)
    ingest_run(audio / "manifest.csv", ws)
    copy = Workspace(tmp_path / "copy")
    shutil.copytree(ws.root, copy.root)
    shutil.rmtree(ws.root)                                 # only the copy's audio exists now
    locator = AudioLocator(copy)
    assert locator.root == copy.root / "demo_inputs" / "collection"
    assert features_run(copy, "f").counts["written"] == 3


def test_paths_outside_the_root_are_left_alone(tmp_path: Path):
    ws = Workspace(tmp_path / "ws")
    write_audio(tmp_path / "music")
    ingest_run(tmp_path / "music", ws)
    locator = AudioLocator(ws, root=tmp_path / "new")
    assert locator("/somewhere/else/x.wav") == "/somewhere/else/x.wav"
    assert locator(None) is None
    inside = str((tmp_path / "music" / "Artist 0" / "Album" / "01 - Song 0.wav").resolve())
    assert locator(inside) == str(tmp_path / "new" / "Artist 0" / "Album" / "01 - Song 0.wav")


def test_collection_and_features_take_a_workspace_path(tmp_path: Path):
    """The library convention (docs/python-api.md): a Workspace or its path."""
    write_audio(tmp_path / "music", n=2)
    ingest_run(tmp_path / "music", str(tmp_path / "ws"))
    assert features_run(str(tmp_path / "ws"), "f").counts["written"] == 2
    assert AudioLocator(str(tmp_path / "ws")).root == (tmp_path / "music").resolve()


def test_features_command_takes_the_collection_root(tmp_path: Path):
    """`discogs-tools features --collection-root DIR` (and a pipeline's `collection-root`) place
    audio that moved on its own, as the library argument does."""
    from typer.testing import CliRunner

    from discogs_tools.cli import app
    from discogs_tools.pipeline.steps import features as features_step

    ws = Workspace(tmp_path / "ws")
    write_audio(tmp_path / "music")
    ingest_run(tmp_path / "music", ws)
    shutil.move(tmp_path / "music", tmp_path / "moved-music")
    result = CliRunner().invoke(app, ["features", "-w", str(ws.root), "--name", "f", "-j", "1",
                                      "--collection-root", str(tmp_path / "moved-music")])
    assert result.exit_code == 0, result.output
    assert len(features_of(ws, "f")) == 3
    assert features_step(ws, name="g", workers=1, collection_root=str(tmp_path / "moved-music")).counts["written"] == 3
