"""index-embeddings and similar on a small real workspace (tests/similar_workspace.py): the index
agrees with exact cosine search, is rebuilt when the embeddings change, neighbours carry the
warehouse's metadata, filters hold, and the three kinds of query resolve to the same track."""

from __future__ import annotations

import csv
import io
import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.io import read_table
from discogs_tools.probe.embeddings import read_embeddings
from discogs_tools.similar.index import build, encode, exact_search, index_folder, is_current, open_index
from discogs_tools.similar.source import embeddings_path, embeddings_version
from similar_workspace import RUN, build as build_workspace


@pytest.fixture(scope="session")
def sim_ws(tmp_path_factory):
    return build_workspace(tmp_path_factory.getbasetemp() / "similar-ws")


def cli(ws, *args):
    return CliRunner().invoke(app, [*args, "-w", str(ws.root)])


def similar_json(ws, *args):
    out = cli(ws, "similar", *args, "--format", "json")
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def collection(ws):
    return {r["track_id"]: r for r in read_table(ws.table("collection/tracks")).to_pylist()}


def test_index_matches_exact_cosine_search(sim_ws):
    out = cli(sim_ws, "index-embeddings", RUN, "--force")
    assert out.exit_code == 0, out.output
    emb = read_embeddings(embeddings_path(sim_ws, RUN))
    index = open_index(sim_ws, RUN, rebuild=False)
    assert len(index) == len(emb.ids)
    # the reference is exact search over the vectors as the index stores them (int8 scaled per
    # vector, or float16 where int8 would swap neighbours)
    stored = encode(emb.values, "i8") if index.dtype == "i8" else emb.values.astype(np.float16)
    stored = stored.astype(np.float32)
    unit = stored / np.linalg.norm(stored, axis=1, keepdims=True)
    exact = exact_search(stored, stored[:20], 6)
    for row, query_id in enumerate(emb.ids[:20]):
        keys, dist = index.search(stored[row], 6)
        # the first neighbour of an indexed track is itself, at distance 0
        assert index.track_ids(keys[:1]) == [query_id]
        assert dist[0] < 1e-3
        # the neighbours of exact search at their distances, to float16 precision (this tiny model puts
        # every track within 0.02 of the others, so near-ties can swap the last neighbour)
        want = np.sort(1 - unit[exact[row]] @ unit[row])
        assert dist == pytest.approx(want, abs=1e-3)
        assert len(set(index.track_ids(keys)) & {emb.ids[k] for k in exact[row]}) >= 5


def test_index_up_to_date_then_rebuilt_when_embeddings_change(sim_ws, tmp_path):
    ws = sim_ws
    table = embeddings_path(ws, RUN)
    build(ws, RUN)
    again = build(ws, RUN)
    assert any("up to date" in w for w in again.warnings)
    info = json.loads((index_folder(ws, RUN, table) / "index.json").read_text())
    assert info["embeddings_version"] == embeddings_version(table)
    # `embed` writes the table again: a new version, so the index is stale and gets rebuilt
    from discogs_tools.train.embed import run as embed

    embed(ws, RUN, device="cpu")
    assert not is_current(index_folder(ws, RUN, table), table)
    open_index(ws, RUN)
    assert is_current(index_folder(ws, RUN, table), table)


def test_similar_track_neighbours_with_warehouse_metadata(sim_ws):
    ws = sim_ws
    tracks = collection(ws)
    links = read_table(ws.table("links/track_releases")).to_pylist()
    releases = {r["release_id"]: r for r in read_table(ws.table("discogs/releases"),
                                                       columns=["release_id", "title", "year", "styles", "labels"]).to_pylist()}
    linked = {}
    for link in links:
        linked.setdefault(link["track_id"], []).append(link)
    query = next(t for t in tracks if t in linked)
    result = similar_json(ws, query, "-k", "5")
    assert result["query"]["kind"] == "track" and result["query"]["track_id"] == query
    found = result["neighbours"]
    assert len(found) == 5 and query not in {n["track_id"] for n in found}
    assert [n["distance"] for n in found] == sorted(n["distance"] for n in found)
    for n in found:
        tag = tracks[n["track_id"]]
        assert (n["artist"], n["title"]) == (tag["artist"], tag["title"])
        mine = linked.get(n["track_id"], [])
        if not mine:
            assert n["release"] is None and n["styles"] == []
            continue
        best = max(mine, key=lambda link: link["score"])
        assert n["release_id"] == best["release_id"] and n["release"] == releases[best["release_id"]]["title"]
        assert n["year"] == (releases[best["release_id"]]["year"] or tag.get("year"))
        assert n["styles"] == sorted({s for link in mine for s in releases[link["release_id"]]["styles"] or []})
        assert n["labels"] == sorted({lab["name"] for link in mine for lab in releases[link["release_id"]]["labels"] or []})


def test_filters_style_years_label_and_same_artist(sim_ws):
    ws = sim_ws
    tracks = collection(ws)
    everyone = similar_json(ws, next(iter(tracks)), "-k", "60")["neighbours"]
    style = next(s for n in everyone for s in n["styles"])
    styled = similar_json(ws, next(iter(tracks)), "-k", "5", "--style", style.upper())["neighbours"]
    assert styled and all(style in n["styles"] for n in styled)
    years = sorted(n["year"] for n in everyone if n["year"])
    lo, hi = years[len(years) // 4], years[len(years) // 2]
    ranged = similar_json(ws, next(iter(tracks)), "-k", "5", "--years", f"{lo}-{hi}")["neighbours"]
    assert ranged and all(lo <= n["year"] <= hi for n in ranged)
    label = next(lab for n in everyone for lab in n["labels"])
    labelled = similar_json(ws, next(iter(tracks)), "-k", "3", "--label", label)["neighbours"]
    assert labelled and all(label in n["labels"] for n in labelled)
    # a query whose artist has other tracks: without the filter they are among its neighbours
    from collections import Counter

    counts = Counter(t["artist"] for t in tracks.values())
    query = next(tid for tid, t in tracks.items() if counts[t["artist"]] > 1)
    artist = tracks[query]["artist"]
    full = similar_json(ws, query, "-k", str(len(tracks)))["neighbours"]
    assert any(n["artist"] == artist for n in full)
    kept = similar_json(ws, query, "-k", str(len(tracks)), "--exclude-same-artist")["neighbours"]
    assert kept and all(n["artist"] != artist for n in kept)


def test_text_and_audio_queries_resolve_to_the_track(sim_ws):
    ws = sim_ws
    tracks = collection(ws)
    query = next(iter(tracks))
    tag = tracks[query]
    text = f"{tag['artist'].upper()} - {tag['title'].lower()} (Remastered 2011)"  # the matcher's keys ignore these
    by_text = similar_json(ws, text, "-k", "3")
    assert by_text["query"]["kind"] == "text" and by_text["query"]["track_id"] == query
    by_id = similar_json(ws, query, "-k", "3")
    assert [n["track_id"] for n in by_text["neighbours"]] == [n["track_id"] for n in by_id["neighbours"]]
    # the track's own audio file, embedded on the fly, lands on the track's stored embedding
    by_audio = similar_json(ws, tag["path"], "-k", "1")
    assert by_audio["query"]["kind"] == "audio"
    assert by_audio["neighbours"][0]["track_id"] == query
    assert by_audio["neighbours"][0]["distance"] < 2e-3


def test_formats_text_and_csv(sim_ws):
    query = next(iter(collection(sim_ws)))
    out = cli(sim_ws, "similar", query, "-k", "4", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert out.exit_code == 0 and [int(r["rank"]) for r in rows] == [1, 2, 3, 4]
    text = cli(sim_ws, "similar", query, "-k", "4")
    assert text.exit_code == 0 and text.stdout.count("\n") >= 6 and rows[0]["artist"][:20] in text.stdout


def test_bad_input_one_line_errors(sim_ws, tmp_path):
    ws = sim_ws
    # a run without embeddings names the embed command
    shutil.copytree(ws.runs / RUN / "checkpoints", ws.runs / "no-embeddings" / "checkpoints")
    out = cli(ws, "similar", "x", "--run", "no-embeddings")
    assert out.exit_code == 2 and "discogs-tools embed -c no-embeddings" in out.output
    assert "Traceback" not in out.output and len(out.output.strip().splitlines()) == 1
    # an audio file that cannot be decoded says why
    bad = tmp_path / "broken.flac"
    bad.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    out = cli(ws, "similar", str(bad), "--run", RUN)
    assert out.exit_code == 2 and "cannot use this file as an audio query (corrupt): cannot decode" in out.output
    # neither a track id, nor a file, nor `artist - title`
    out = cli(ws, "similar", "no such thing", "--run", RUN)
    assert out.exit_code == 2 and "is not a track id of the index" in out.output
    out = cli(ws, "similar", "Nobody At All - Never Written", "--run", RUN)
    assert out.exit_code == 2 and "no collection track has that artist and title" in out.output
    out = cli(ws, "similar", "x", "--run", RUN, "--years", "2000-1990")
    assert out.exit_code == 2 and "is empty" in out.output


def test_build_is_locked_and_a_failed_build_keeps_the_previous_index(sim_ws):
    import pyarrow as pa

    from discogs_tools.errors import InputError
    from discogs_tools.io import write_table
    from discogs_tools.locks import OutputLockedError, output_lock
    from discogs_tools.similar.index import EmbeddingIndex

    ws = sim_ws
    good = read_table(embeddings_path(ws, RUN))
    table = ws.runs / RUN / "embeddings" / "copy"
    write_table(table, good, "runs/embeddings")
    with output_lock(ws.root, "index-embeddings", f"{RUN}/copy"):
        with pytest.raises(OutputLockedError):
            build(ws, RUN, embeddings="copy")
    build(ws, RUN, embeddings="copy")
    folder = index_folder(ws, RUN, table)
    before = json.loads((folder / "index.json").read_text())
    # the table is written again with a NaN in one vector: the build fails naming the track...
    rows = good.to_pylist()
    rows[3]["embedding"] = [float("nan")] * len(rows[3]["embedding"])
    write_table(table, pa.Table.from_pylist(rows, schema=good.schema), "runs/embeddings")
    with pytest.raises(InputError, match=f"record {rows[3]['track_id']}: embedding holds NaN"):
        build(ws, RUN, embeddings="copy")
    # ...and the previous index is still there, whole and searchable
    assert json.loads((folder / "index.json").read_text()) == before
    index = EmbeddingIndex(folder)
    assert len(index) == len(rows) and index.search(index.vector(0), 3)[0][0] == 0
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    shutil.rmtree(table)
    shutil.rmtree(folder)
