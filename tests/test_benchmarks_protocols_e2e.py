"""Every probe protocol end to end on a slice of the real MTG-Jamendo split-0 files with generated
stand-in audio: `benchmark prepare` -> `ingest collection` -> `features` -> `probe --protocol X`
with a tiny checkpoint, in seconds. What each protocol computes is tested on its own elsewhere
(test_probe_protocols, test_probe_finetune, test_probe_folds, test_probe_patch_bank); here the
point is that the official files, as prepared, go through every protocol unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from discogs_tools.benchmarks.prepare import prepare
from discogs_tools.errors import ConfigError
from discogs_tools.probe import protocols
from discogs_tools.probe.run import run

from test_benchmarks_mtg_jamendo import REAL
from test_probe_finetune import save_checkpoint

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="real MTG-Jamendo split files not present")

COMMON = ("genre---electronic", "genre---pop", "genre---rock")  # frequent enough to be in every split


def _slice(dest: Path, rows: int) -> Path:
    """The first ``rows`` tracks of each real genre split file that carry one of COMMON's tags."""
    dest.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation", "test"):
        name = f"autotagging_genre-{split}.tsv"
        header, *lines = (REAL / name).read_text().splitlines(keepends=True)
        kept = [line for line in lines if any(t in line.rstrip("\n").split("\t")[5:] for t in COMMON)][:rows]
        (dest / name).write_text(header + "".join(kept))
    return dest


SETTINGS = {"mean-embedding": {}, "maest": {"batch_size": 8},
            "ismir2022": {"batch_size": 8}, "icassp2023-finetune": {"batch_size": 8, "early_stop": 0}}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A workspace with the features of a 3 x 20-track slice of the genre split, its manifest and a
    tiny checkpoint."""
    import soundfile as sf

    from discogs_tools.collection import ingest
    from discogs_tools.features import extract
    from discogs_tools.workspace import Workspace

    tmp = tmp_path_factory.mktemp("mtgj")
    root = _slice(tmp / "root", rows=20)
    audio = tmp / "audio"
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for k, line in enumerate((root / f"autotagging_genre-{split}.tsv").read_text().splitlines()[1:]):
            path = audio / line.split("\t")[3]
            path.parent.mkdir(parents=True, exist_ok=True)
            t = np.arange(16000 * 3) / 16000
            tone = 0.2 * np.sin(2 * np.pi * (220 + 40 * k) * t) + 0.05 * rng.normal(size=len(t))
            sf.write(path, tone.astype(np.float32), 16000, format="MP3")
    manifest = tmp / "genre.csv"
    report = prepare("mtg-jamendo-genre", root, output=manifest, audio_root=audio)
    assert report.counts["tracks"] == 60
    ws = Workspace(tmp / "ws")
    ws.ensure()
    assert ingest.run(manifest, ws).counts["tracks"] == 60
    extract.run(ws, "default")
    return ws, manifest, save_checkpoint(tmp / "tiny.pt")


@pytest.mark.parametrize("protocol", list(SETTINGS))
def test_each_protocol_probes_the_prepared_split(prepared, protocol):
    ws, manifest, model = prepared
    config = protocols.get(protocol).config(epochs=2, hidden=8, **SETTINGS[protocol])
    report = run(manifest, workspace=ws, models=[model], features=str(ws.root / "features" / "default"),
                 protocol=protocol, config=config, seeds=1, plot=False, skip_invalid=True)
    results = json.loads(Path(report.outputs["results"]).read_text())
    assert results["params"]["protocol"]["name"] == protocol
    # every sliced record is used (tags never seen in train are dropped from the classes, noted)
    assert results["dataset"]["records_read"] == results["dataset"]["records_used"] == 60
    assert results["kind"] == "multilabel" and results["dataset"]["split_sizes"]["train"] == 20
    model_entry, baseline = results["models"]
    assert (model_entry["role"], baseline["role"]) == ("model", "baseline")
    for entry in (model_entry, baseline):
        assert 0.0 <= entry["summary"]["roc_auc"]["mean"] <= 1.0
        assert 0.0 <= entry["summary"]["pr_auc"]["mean"] <= 1.0


def test_five_fold_refuses_the_multi_label_benchmark_in_one_line(prepared):
    ws, manifest, model = prepared
    with pytest.raises(ConfigError, match="multi-class tasks .*seed 004 sec. 3.2.2"):
        run(manifest, workspace=ws, models=[model], features=str(ws.root / "features" / "default"),
            protocol="5-fold", seeds=1, plot=False, config=protocols.get("5-fold").config(epochs=1))
