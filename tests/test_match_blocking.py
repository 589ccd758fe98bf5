"""The lean blocking scheme (<= 5 keys per recording) links what the first, wide one (~35) did.

Collection: 600 tracks of the real 2020-08 Discogs sample, each with one real-world difference
(a typo in the title or in the artist, feat., a remaster suffix, case) or none, plus 100 tracks of
held-out releases; matched against the sample once with each scheme.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from discogs_tools.collection import ingest as collection_ingest
from discogs_tools.discogs import ingest as discogs_ingest
from discogs_tools.io import iter_batches, read_table
from discogs_tools.match import blocking, evaluate, stage
from discogs_tools.match.index import discogs_track_rows
from discogs_tools.resources import sample_data_dir
from discogs_tools.workspace import Workspace

RELEASES = "xml2db_20200806/discogs_20200806_releases.sample1000.xml.gz"


def _collection(ws: Workspace, n: int = 600, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    tracks = [t for b in iter_batches(ws.table("discogs/releases"), batch_size=500) for r in b.to_pylist()
              for t in discogs_track_rows(r) if t["artist"] and evaluate.crude_key(t["artist"]) != "various"]
    rng.shuffle(tracks)
    rows = []
    for i, t in enumerate(tracks[:n]):
        artist, title = t["artist"], t["title"]
        kind = i % 6
        if kind == 0:
            title = evaluate._typo(title, rng)
        elif kind == 1:
            artist = evaluate._typo(artist, rng)
        elif kind == 2:
            title = f"{title} (feat. Someone Else)"
        elif kind == 3:
            title = f"{title} - 2011 Remaster"
        elif kind == 4:
            artist, title = artist.upper(), title.lower()
        rows.append({"track_id": f"t{i:04d}", "artist": artist, "title": title, "album": t["album"],
                     "duration_s": t["duration_s"]})
    for j, t in enumerate(tracks[n:n + 100]):  # other songs by other artists, with a typo
        rows.append({"track_id": f"x{j:04d}", "artist": t["artist"][::-1], "title": evaluate._typo(t["title"], rng),
                     "album": None, "duration_s": t["duration_s"]})
    return rows


def _links(ws: Workspace) -> set[tuple[str, int]]:
    return {(l["track_id"], l["release_id"]) for l in read_table(ws.table("links/track_releases")).to_pylist()}


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("blocking") / "workspace").ensure()
    discogs_ingest.run([sample_data_dir() / "discogs" / RELEASES], ws, workers=0)
    manifest = ws.root.parent / "collection.parquet"
    pq.write_table(pa.Table.from_pylist(_collection(ws)), manifest)
    collection_ingest.run(manifest, ws)
    return ws


def test_lean_blocking_gives_the_links_of_the_wide_scheme(sample_ws, monkeypatch):
    monkeypatch.setattr(blocking, "SCHEME", "wide")
    wide_report = stage.run(sample_ws, "discogs", rebuild_index=True)
    wide = _links(sample_ws)
    monkeypatch.setattr(blocking, "SCHEME", "lean")
    lean_report = stage.run(sample_ws, "discogs", rebuild_index=True)
    lean = _links(sample_ws)
    assert len(wide) > 500
    assert lean == wide
    # and with far fewer block rows per recording
    assert lean_report.counts["matched"] == wide_report.counts["matched"]


def test_lean_index_stores_at_most_nine_keys_per_recording(sample_ws):
    stage.run(sample_ws, "discogs", rebuild_index=True)
    import json

    stats = json.loads((sample_ws.tables / "match" / "discogs_index.json").read_text())["stats"]
    assert stats["block_rows"] <= 9 * stats["recordings"]
    assert stats["block_rows"] / stats["index_rows"] <= 10
