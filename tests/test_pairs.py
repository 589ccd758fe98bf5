"""make-pairs: every association's rule re-checked by the validator, single use per epoch,
determinism, bad input, Table-1 diversity on a hand-checked example, and the ICO API."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.dataset import run as build_dataset
from discogs_tools.dataset.synthetic import write_synthetic_workspace
from discogs_tools.errors import ConfigError, DiscogsToolsError, MissingInputError
from discogs_tools.dataset.version import write_tracks
from discogs_tools.io import read_table, write_table
from discogs_tools.pairs import ASSOCIATIONS, epoch_path, make_pairs, read_pairs, validate_pairs
from discogs_tools.pairs import synthetic as ps
from discogs_tools.pairs.ico import PlaylistTracks, ico_pairs, informed_cooccurrence_pairs, rank_weights
from discogs_tools.pairs.index import load_split
from discogs_tools.pairs.stats import diversity
from discogs_tools.workspace import Workspace

DS = "discogs20"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs") / "workspace"
    write_synthetic_workspace(root, 800, n_artists=250, n_labels=40, seed=5)
    ws = Workspace(root)
    build_dataset(ws, min_releases=3, seed=1)
    track_ids = read_table(ws.dataset(DS) / "tracks", columns=["track_id"]).column(0).to_pylist()
    playlist_tracks, links = ps.synthetic_playlists(track_ids, 600, 15, unlinked_keys=300, window=60, seed=2)
    write_table(ws.table("playlists/playlist_tracks"), playlist_tracks, "playlists/playlist_tracks")
    write_table(ws.table("links/track_playlist_tracks"), links, "links/track_playlist_tracks")
    write_table(ws.table("playlists/cooccurrence"), ps.cooccurrence_from_playlists(playlist_tracks, 10),
                "playlists/cooccurrence")
    folder = ws.dataset(DS) / "word2vec"
    folder.mkdir(parents=True)
    pq.write_table(ps.random_vectors(ps.playlist_keys(len(track_ids))[::3], seed=4), folder / "vectors.parquet")
    return ws


@pytest.mark.parametrize("association", [a for a in ASSOCIATIONS if a != "artist-co"])
def test_every_pair_valid_and_tracks_used_once(ws, association):
    """(artist-co lets a track repeat, see test_pairs_playlists_recipe.py)"""
    for split in ("train", "validation"):
        report = make_pairs(ws, DS, association, split, epoch=0, seed=9)
        assert report.counts["pairs"] > 0
        check = validate_pairs(ws, DS, association, split, 0)
        assert check.counts["violations"] == 0, check.details
        table = read_pairs(ws, DS, association, split, 0)
        uses = Counter()
        for a, p in zip(table.column("anchor").to_pylist(), table.column("positive").to_pylist()):
            for t in {a, p}:
                uses[t] += 1
        assert max(uses.values()) == 1
        in_split = {r["track_id"] for r in read_table(ws.dataset(DS) / "tracks").to_pylist() if r["split"] == split}
        assert set(uses) <= in_split


@pytest.mark.parametrize("association", ["release", "artist", "label", "artist-co", "playlist-co", "playlist-tco",
                                         "playlist-ico"])
def test_deterministic_given_seed_and_epoch(ws, association):
    # Epoch 0 replaces the pairs other tests stored (other seeds); later epochs add to it.
    make_pairs(ws, DS, association, "train", epoch=0, seed=3)
    make_pairs(ws, DS, association, "train", epoch=1, seed=3)
    first = read_pairs(ws, DS, association, "train", 1)
    make_pairs(ws, DS, association, "train", epoch=1, seed=3)
    assert read_pairs(ws, DS, association, "train", 1).equals(first)
    make_pairs(ws, DS, association, "train", epoch=2, seed=3)
    second = read_pairs(ws, DS, association, "train", 2)
    assert second.column("epoch").to_pylist()[0] == 2
    assert first.column("anchor").to_pylist() != second.column("anchor").to_pylist()


def test_editorial_pairs_cover_most_tracks(ws):
    """A pool-based sampler leaves few tracks without a partner when partners exist."""
    report = make_pairs(ws, DS, "label", "train", epoch=0, seed=0)
    assert report.counts["tracks"] >= 0.9 * report.counts["split_tracks"]
    assert report.counts["tracks"] == 2 * report.counts["pairs"]


def test_validator_catches_broken_pairs(ws, tmp_path):
    make_pairs(ws, DS, "artist", "train", epoch=0, seed=0)  # replaces pairs of other seeds (other tests)
    make_pairs(ws, DS, "artist", "train", epoch=5, seed=0)
    path = epoch_path(ws, DS, "artist", "train", 5)
    table = pq.read_table(path)
    positives = table.column("positive").to_pylist()
    positives[0], positives[1] = positives[1], positives[0]  # anchors now have a wrong partner
    positives[3] = table.column("anchor")[3].as_py()  # a self pair
    pq.write_table(table.set_column(1, "positive", pa.array(positives)), path)
    check = validate_pairs(ws, DS, "artist", "train", 5)
    assert check.counts["violations_rule"] >= 2
    result = CliRunner().invoke(app, ["validate-pairs", "-a", "artist", "--epoch", "5", "-w", str(ws.root)])
    assert result.exit_code == 1


def _hand_dataset(root):
    """Five train tracks. Artist 1 on releases 10 (t1, t2) and 11 (t3); t4 by artist 2 on label 100
    with t1; t5 alone."""
    rows = [
        ("t1", [10], [1], [100]),
        ("t2", [10], [1], [100]),
        ("t3", [11], [1], [101]),
        ("t4", [12], [2], [100]),
        ("t5", [13], [3], [102]),
    ]
    table = pa.table({
        "track_id": [r[0] for r in rows], "releases": [r[1] for r in rows], "masters": [[] for _ in rows],
        "artists": [r[2] for r in rows], "extra_artists": [[] for _ in rows], "labels": [r[3] for r in rows],
        "genres": [[] for _ in rows], "styles": [["House"] for _ in rows], "duration_s": [200.0] * 5,
        "split": ["train"] * 5,
    })
    ws = Workspace(root)
    write_tracks(ws, "hand", table)  # stamped with a dataset version, as build-dataset writes it
    return ws


def test_diversity_hand_checked(tmp_path):
    ws = _hand_dataset(tmp_path / "ws")
    index = load_split(ws, "hand", "train")  # sorted track ids: t1..t5 -> 0..4
    # pairs (t1, t3) and (t2, t4): tracks 4; releases 10, 11, 12; artists 1, 2; labels 100, 101.
    stats = diversity(index, np.array([0, 1]), np.array([2, 3]))
    assert stats == {"pairs": 2, "tracks": 4, "releases": 3, "artists": 2, "labels": 2}


def test_artist_rule_excludes_release_mates(tmp_path):
    ws = _hand_dataset(tmp_path / "ws")
    for seed in range(10):
        make_pairs(ws, "hand", "artist", "train", epoch=0, seed=seed)
        rows = read_pairs(ws, "hand", "artist", "train", 0).to_pylist()
        # Artist 1's tracks: t1 and t2 share release 10, so the only valid pairs are (t1|t2, t3).
        assert len(rows) == 1
        assert {rows[0]["anchor"], rows[0]["positive"]} in ({"t1", "t3"}, {"t2", "t3"})
        assert rows[0]["shared_artists"] == [1] and rows[0]["shared_releases"] == []
        make_pairs(ws, "hand", "label", "train", epoch=0, seed=seed)
        rows = read_pairs(ws, "hand", "label", "train", 0).to_pylist()
        # Label 100: t1, t2 (artist 1) and t4 (artist 2): t4 pairs with t1 or t2, never t1 with t2.
        assert all({r["anchor"], r["positive"]} in ({"t1", "t4"}, {"t2", "t4"}) for r in rows)


def test_bad_input(ws, tmp_path):
    with pytest.raises(ConfigError, match="unknown association 'genre'"):
        make_pairs(ws, DS, "genre", "train")
    with pytest.raises(ConfigError, match="unknown split"):
        make_pairs(ws, DS, "track", "dev")
    with pytest.raises(MissingInputError, match="build-dataset"):
        make_pairs(ws, "nope", "track", "train")
    tiny = _hand_dataset(tmp_path / "tiny")
    with pytest.raises(DiscogsToolsError, match="split test of dataset hand has 0 track"):
        make_pairs(tiny, "hand", "release", "test")
    with pytest.raises(MissingInputError, match="playlists/playlist_tracks.*ingest playlists"):
        make_pairs(tiny, "hand", "playlist-co", "train")
    result = CliRunner().invoke(app, ["make-pairs", "-a", "genre", "-w", str(ws.root)])
    assert result.exit_code == 2 and "unknown association" in result.output


def test_cli_make_pairs_epochs_and_manifest(ws):
    result = CliRunner().invoke(app, ["make-pairs", "--association", "release", "--split", "test", "--epoch", "3",
                                      "--epochs", "2", "--seed", "1", "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert epoch_path(ws, DS, "release", "test", 3).exists() and epoch_path(ws, DS, "release", "test", 4).exists()
    both = read_pairs(ws, DS, "release", "test")
    assert set(both.column("epoch").to_pylist()) >= {3, 4}
    manifest = (ws.root / "manifest.json").read_text()
    assert "make-pairs discogs20/release/test/epoch-4" in manifest and "table1" in manifest
    # The manifest records what the pairs were read from: the dataset's tracks, with a fingerprint.
    import json

    entry = json.loads(manifest)["stages"]["make-pairs discogs20/release/test/epoch-4"]
    [tracks] = entry["inputs"]
    assert tracks["path"] == str((ws.dataset(DS) / "tracks").resolve())
    assert tracks["files"] >= 1 and tracks["bytes"] > 0 and tracks["fingerprint"].startswith(("version:", "sha256:"))


def test_rank_weights_follow_gaussian_over_rank():
    w = rank_weights(8)
    assert w.sum() == pytest.approx(1.0)
    assert np.all(np.diff(w) < 0)
    sigma = 0.75 * 8
    assert w[0] / w[7] == pytest.approx(np.exp(49 / (2 * sigma ** 2)))


def test_ico_prefers_similar_candidates():
    """One anchor per playlist against 6 candidates; the candidate most similar to the anchor is
    drawn far more often than the least similar one, and pairs stay within the playlist."""
    n_playlists = 400
    track_ids = pa.array([f"t{i}" for i in range(7 * n_playlists)])
    ptr = np.arange(0, 7 * n_playlists + 1, 7)
    tracks = np.arange(7 * n_playlists)
    playlists = PlaylistTracks(track_ids=track_ids, playlist_ids=pa.array([f"p{i}" for i in range(n_playlists)]),
                               ptr=ptr, tracks=tracks)
    angle = (tracks % 7) * 0.4  # similarity to anything decreases with the in-playlist position
    emb = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    table = informed_cooccurrence_pairs(playlists, emb, seed=0, epoch=0)
    assert table.equals(informed_cooccurrence_pairs(playlists, emb, seed=0, epoch=0))
    assert table.num_rows == 3 * n_playlists
    for row in table.to_pylist():
        a, p = int(row["anchor"][1:]), int(row["positive"][1:])
        assert a // 7 == p // 7 and row["shared_playlists"] == [f"p{a // 7}"]
    # Callable similarity: negative distance in index space, so nearer positions rank first.
    table = informed_cooccurrence_pairs(playlists, lambda a, c: -np.abs(c - a).astype(float), seed=1, epoch=0)
    gaps = Counter(abs(int(r["anchor"][1:]) - int(r["positive"][1:])) for r in table.to_pylist())
    assert gaps[1] > gaps[6]


def test_ico_trainer_adapter(ws):
    """The trainer's entry point embeds the playlist tracks once and pairs only embedded tracks."""
    embedded: set[str] = set()

    def embed(ids):
        keep = ids[::2]  # pretend only every other track has features
        embedded.update(keep)
        return keep, np.random.default_rng(len(keep)).standard_normal((len(keep), 4))

    table = ico_pairs(ws, DS, split="train", epoch=0, seed=0, embed=embed)
    assert table.num_rows > 0
    used = table.column("anchor").to_pylist() + table.column("positive").to_pylist()
    assert set(used) <= embedded and len(used) == len(set(used))


# ---------------------------------------------------------------- ICO as published (issue 12)

def test_rank_weights_take_sigma_from_the_fixed_half_length():
    """Seed 004 eq. 5.3: w(k) ~ exp(-k^2 / (2 sigma^2)), mu = 0, sigma = 3/4 L with L = |p|/2 fixed;
    weights of the candidates still open keep their rank in the full list."""
    L = 4
    sigma = 0.75 * L
    w = rank_weights(L, np.array([1, 3]))
    expected = np.exp(-np.array([1, 9]) / (2 * sigma ** 2))
    assert np.allclose(w, expected / expected.sum())
    assert np.allclose(rank_weights(L), rank_weights(L, np.arange(L)))


def test_ico_halves_are_fixed_per_playlist(monkeypatch):
    """Every anchor of a playlist draws with the same L (half the playlist's available tracks)
    and the full-list ranks of the candidates still open: 3, then 2, then 1 of ranks {0, 1, 2}."""
    from discogs_tools.pairs import playlist_ico

    calls = []
    real = playlist_ico.rank_weights

    def spy(L, ranks=None):
        calls.append((L, None if ranks is None else sorted(np.asarray(ranks).tolist())))
        return real(L, ranks)

    monkeypatch.setattr(playlist_ico, "rank_weights", spy)
    track_ids = pa.array([f"t{i}" for i in range(7)])
    playlists = PlaylistTracks(track_ids=track_ids, playlist_ids=pa.array(["p0"]), ptr=np.array([0, 7]),
                               tracks=np.arange(7))
    emb = np.random.default_rng(0).standard_normal((7, 3))
    table = informed_cooccurrence_pairs(playlists, emb, seed=0, epoch=0)
    assert table.num_rows == 3  # floor(7 / 2): the odd track stays available
    assert [c[0] for c in calls] == [3, 3, 3]
    assert [len(c[1]) for c in calls] == [3, 2, 1] and all(set(c[1]) <= {0, 1, 2} for c in calls)


def test_ico_scores_candidates_with_the_bilinear_layer_when_given():
    """Seed 004 sec. 5.5.1: with the bilinear projector, S = z_a^T W z_c ranks the candidates:
    the same pairs as that similarity given as a callable, other pairs than the cosine."""
    n_playlists, size = 50, 9
    track_ids = pa.array([f"t{i}" for i in range(size * n_playlists)])
    playlists = PlaylistTracks(track_ids=track_ids, playlist_ids=pa.array([f"p{i}" for i in range(n_playlists)]),
                               ptr=np.arange(0, size * n_playlists + 1, size), tracks=np.arange(size * n_playlists))
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((size * n_playlists, 5))
    w = rng.standard_normal((5, 5))
    with_w = informed_cooccurrence_pairs(playlists, emb, seed=2, epoch=1, bilinear=w)
    by_hand = informed_cooccurrence_pairs(playlists, lambda a, c: emb[a] @ w @ emb[c].T, seed=2, epoch=1)
    cosine = informed_cooccurrence_pairs(playlists, emb, seed=2, epoch=1)
    assert with_w.equals(by_hand)
    assert not with_w.equals(cosine)
    assert with_w.num_rows == 4 * n_playlists


def test_cli_make_pairs_prints_one_summary_for_many_epochs(ws):
    result = CliRunner().invoke(app, ["make-pairs", "-a", "release", "--split", "test", "--epochs", "4",
                                      "-w", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert result.output.count("make-pairs release") == 1, result.output
    assert "epochs: 4" in result.output and "pairs_per_epoch_min" in result.output


def test_make_pairs_lists_the_association_in_the_dataset_card(tmp_path):
    """The dataset's README.md (Hugging Face configs) is refreshed by make-pairs: pairs made after
    build-dataset are loadable as their own config without calling write_card by hand."""
    ws = _hand_dataset(tmp_path / "ws")
    card = ws.dataset("hand") / "README.md"
    make_pairs(ws, "hand", "label", "train", epoch=0, seed=0)
    text = card.read_text(encoding="utf-8")
    assert "- config_name: label" in text and "path: pairs/label/train.parquet/epoch-*.parquet" in text
    assert "config_name: artist" not in text
    make_pairs(ws, "hand", "artist", "train", epoch=0, seed=0)
    assert "- config_name: artist" in card.read_text(encoding="utf-8")
