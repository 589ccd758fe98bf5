"""Word2Vec on playlists: sentence streaming, bit-identical vectors with one worker (also
across PYTHONHASHSEED values), long-playlist splitting, saved outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

from discogs_tools import manifest
from discogs_tools.io import write_table
from discogs_tools.playlists import synthetic, word2vec
from discogs_tools.playlists.sentences import PlaylistSentences
from discogs_tools.playlists.word2vec import Word2VecParams, load_vectors

PARAMS = Word2VecParams(vector_size=16, epochs=3, seed=7)


def write_playlists(ws, playlists: list[list[str]]) -> None:
    ids, pos, keys = [], [], []
    for p, tracks in enumerate(playlists):
        ids += [f"p{p}"] * len(tracks)
        pos += list(range(len(tracks)))
        keys += tracks
    write_table(ws.table("playlists/playlist_tracks"), pa.table({"playlist_id": ids, "pos": pos, "track_key": keys}),
                "playlists/playlist_tracks", rows_per_part=700)


def seeded_playlists(n: int = 150, seed: int = 0) -> list[list[str]]:
    lengths, tracks = synthetic.entries(n, seed, catalogue=400)
    offsets = np.r_[0, np.cumsum(lengths)]
    return [[f"t{t}" for t in tracks[offsets[i]:offsets[i + 1]]] for i in range(n)]


def test_sentences_stream_playlists_across_batches_and_parts(ws):
    playlists = seeded_playlists(40)
    write_playlists(ws, playlists)
    sentences = PlaylistSentences(ws.table("playlists/playlist_tracks"), batch_size=37)
    assert list(sentences) == playlists
    assert list(sentences) == playlists, "restartable"
    scan = sentences.scan()
    assert (scan.playlists, scan.tokens, scan.max_playlist_length) == \
        (40, sum(map(len, playlists)), max(map(len, playlists)))


def test_one_worker_is_bit_identical(ws, tmp_path):
    write_playlists(ws, seeded_playlists())
    first = word2vec.run(ws, out=tmp_path / "a", params=PARAMS)
    word2vec.run(ws, out=tmp_path / "b", params=PARAMS)
    keys_a, vec_a = load_vectors(tmp_path / "a")
    keys_b, vec_b = load_vectors(tmp_path / "b")
    assert keys_a == keys_b and np.array_equal(vec_a, vec_b)
    other = word2vec.run(ws, out=tmp_path / "c", params=Word2VecParams(vector_size=16, epochs=3, seed=8))
    assert not np.array_equal(load_vectors(tmp_path / "c")[1], vec_a), "the seed matters"
    assert first.counts["vocabulary"] == len(keys_a) == other.counts["vocabulary"]
    # Whole-playlist window by default; loss recorded per epoch and non-zero on this corpus.
    info = json.loads((tmp_path / "a" / "params.json").read_text())
    assert info["params"]["window_used"] == max(len(p) for p in seeded_playlists())
    assert [e["epoch"] for e in info["epochs"]] == [1, 2, 3]
    assert all(e["loss"] > 0 for e in info["epochs"])


def test_vectors_independent_of_pythonhashseed(ws, tmp_path):
    write_playlists(ws, seeded_playlists(60))
    script = textwrap.dedent(f"""
        import hashlib, sys
        from pathlib import Path
        from discogs_tools.workspace import Workspace
        from discogs_tools.playlists import word2vec
        out = Path(sys.argv[1])
        word2vec.run(Workspace(Path({str(ws.root)!r})), out=out,
                     params=word2vec.Word2VecParams(vector_size=8, epochs=2, seed=3))
        keys, vectors = word2vec.load_vectors(out)
        print(hashlib.sha256(repr(keys).encode() + vectors.tobytes()).hexdigest())
    """)
    digests = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / hash_seed)], env=env,
                              capture_output=True, text=True, check=True)
        digests.append(done.stdout.strip().splitlines()[-1])
    assert digests[0] == digests[1]


def test_default_output_kv_and_parquet_agree(ws):
    from gensim.models import KeyedVectors

    write_playlists(ws, seeded_playlists(50))
    report = word2vec.run(ws, name="mix", params=PARAMS)
    folder = ws.dataset("mix") / "word2vec"
    assert report.outputs["folder"] == str(folder)
    kv = KeyedVectors.load(str(folder / "vectors.kv"))
    keys, vectors = load_vectors(folder)
    assert keys == list(kv.index_to_key)
    assert np.array_equal(vectors, kv.vectors)
    assert manifest.get(ws.manifest_path, "word2vec mix")["counts"]["vocabulary"] == len(keys)


def test_long_playlist_split_with_warning(ws, tmp_path):
    long = [f"L{i % 2500}" for i in range(10_050)]
    write_playlists(ws, [["a", "b", "c"], long, ["c", "d"]])
    sentences = PlaylistSentences(ws.table("playlists/playlist_tracks"))
    assert [len(s) for s in sentences] == [3, 10_000, 50, 2]
    assert [t for s in list(sentences)[1:3] for t in s] == long, "split, never truncated"
    report = word2vec.run(ws, out=tmp_path / "w", params=Word2VecParams(vector_size=4, epochs=1))
    assert report.counts["split_playlists"] == 1 and report.counts["sentences"] == 4
    assert report.counts["tokens"] == 10_055
    assert report.counts["vocabulary"] == 2500 + 4
    assert any("1 playlists longer than 10000 tokens" in w for w in report.warnings)
    assert report.figures["window"] == 10_000


def test_invalid_params(ws):
    write_playlists(ws, [["a", "b"]])
    with pytest.raises(Exception, match="vector size"):
        word2vec.run(ws, params=Word2VecParams(vector_size=0))
