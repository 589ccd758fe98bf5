"""Reliability of build-dataset -> make-pairs -> validate-pairs / train (issue 11, items 1, 2 and 7).

Pairs are tied to the dataset version they were drawn from: a rebuild with other splits makes
them stale, and every reader refuses stale (or unversioned) pairs with one line naming the
command to rerun. A make-pairs run replaces its whole output (no leftover epochs), a failed run
keeps the previous one, empty inputs fail instead of writing empty outputs, and a second
concurrent run of the same output is refused. All on a small seeded synthetic Discogs workspace
shaped like the real tables, through the CLI where a user would meet the behaviour.
"""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from discogs_tools.cli import app
from discogs_tools.dataset.synthetic import write_synthetic_workspace
from discogs_tools.io import read_table, table_info, write_table
from discogs_tools.locks import output_lock
from discogs_tools.pairs import synthetic as ps
from discogs_tools.pairs.output import epoch_path, pairs_dir
from discogs_tools.train.data import ParquetPairSource
from discogs_tools.workspace import Workspace

DS = "demo"


def cli(ws: Workspace, *args: str):
    return CliRunner().invoke(app, [*args, "-w", str(ws.root)])


def build(ws: Workspace, *extra: str):
    result = cli(ws, "build-dataset", "--name", DS, "--min-releases", "3", *extra)
    assert result.exit_code == 0, result.output
    return result


def make(ws: Workspace, association: str = "artist", *extra: str):
    return cli(ws, "make-pairs", "--dataset", DS, "--association", association, *extra)


@pytest.fixture
def synth(tmp_path) -> Workspace:
    root = tmp_path / "workspace"
    write_synthetic_workspace(root, 500, n_artists=160, n_labels=30, seed=5)
    ws = Workspace(root)
    build(ws, "--seed", "1")
    return ws


def split_of(ws: Workspace) -> dict[str, str]:
    table = read_table(ws.dataset(DS) / "tracks", columns=["track_id", "split"]).to_pydict()
    return dict(zip(table["track_id"], table["split"]))


def one_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


# --- item 2: stale derived artifacts ---------------------------------------------------------------

def test_rebuild_then_fewer_epochs_leaves_no_stale_epoch(synth):
    """The issue's reproduction: 3 epochs, rebuild with other splits, 1 epoch. Only the new epoch
    remains, every pair is valid, and the trainer never sees a track outside the train split."""
    ws = synth
    assert make(ws, "artist", "--epochs", "3").exit_code == 0
    build(ws, "--seed", "2", "--validation", "0.3")
    result = make(ws, "artist", "--epochs", "1")
    assert result.exit_code == 0, result.output
    folder = pairs_dir(ws, DS, "artist", "train")
    assert sorted(p.name for p in folder.glob("epoch-*.parquet")) == ["epoch-00000.parquet"]
    check = cli(ws, "validate-pairs", "--dataset", DS, "--association", "artist")
    assert check.exit_code == 0, check.output
    assert "violations: 0" in check.output
    splits = split_of(ws)
    source = ParquetPairSource(ws, DS)
    for epoch in range(3):
        pairs = source.pairs("artist", "train", epoch)
        assert len(pairs) > 0
        assert {splits[t] for t in [*pairs.anchor, *pairs.positive]} == {"train"}


def test_pairs_record_their_dataset_version(synth):
    ws = synth
    assert make(ws, "label", "--epochs", "2", "--seed", "4").exit_code == 0
    version = table_info(ws.dataset(DS) / "tracks")["dataset_version"]
    assert version and all(table_info(ws.dataset(DS) / t)["dataset_version"] == version for t in ("splits", "labels"))
    assert json.loads((ws.dataset(DS) / "report.json").read_text())["dataset_version"] == version
    folder = pairs_dir(ws, DS, "label", "train")
    info = json.loads((folder / "_pairs.json").read_text())
    assert info["dataset_version"] == version and info["epochs"] == [0, 1] and info["seed"] == 4
    assert set(info["stats"]) == {"0", "1"} and info["stats"]["0"]["pairs"] > 0
    for epoch in (0, 1):
        meta = pq.read_schema(epoch_path(ws, DS, "label", "train", epoch)).metadata
        assert meta[b"discogs_tools.dataset_version"].decode() == version
    manifest = json.loads((ws.root / "manifest.json").read_text())["stages"]
    assert manifest["make-pairs demo/label/train/epoch-1"]["params"]["dataset_version"] == version


def test_stale_pairs_refused_after_rebuild(synth):
    ws = synth
    assert make(ws, "artist", "--epochs", "3").exit_code == 0
    assert make(ws, "artist", "--split", "validation").exit_code == 0
    build(ws, "--seed", "2", "--validation", "0.3")
    result = cli(ws, "validate-pairs", "--dataset", DS, "--association", "artist")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "pairs artist/train were made from dataset demo version" in line
    assert "the dataset is now version" in line and "rebuilt at" in line
    assert "run `discogs-tools make-pairs --dataset demo --association artist --split train --epochs 3`" in line
    source = ParquetPairSource(ws, DS)
    with pytest.raises(Exception, match="pairs artist/train were made from dataset demo version"):
        source.pairs("artist", "train", 0)
    # Stale validation pairs fail the trainer too (they are not silently treated as absent).
    with pytest.raises(Exception, match="pairs artist/validation were made from dataset demo"):
        source.pairs("artist", "validation", 0)


def test_pairs_without_a_recorded_version_are_refused(synth):
    """Pairs written before versioning (epoch files only) cannot be trusted: refused, clearly."""
    ws = synth
    assert make(ws, "artist").exit_code == 0
    (pairs_dir(ws, DS, "artist", "train") / "_pairs.json").unlink()
    result = cli(ws, "validate-pairs", "--dataset", DS, "--association", "artist")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "pairs artist/train of dataset demo record no dataset version" in line
    assert "make-pairs --dataset demo --association artist --split train" in line
    with pytest.raises(Exception, match="record no dataset version"):
        ParquetPairSource(ws, DS).pairs("artist", "train", 0)


def test_stray_epoch_file_is_refused(synth):
    """An epoch file the recorded run did not write (copied in by hand) is not silently trained on."""
    ws = synth
    assert make(ws, "artist").exit_code == 0
    folder = pairs_dir(ws, DS, "artist", "train")
    shutil.copy(folder / "epoch-00000.parquet", folder / "epoch-00007.parquet")
    result = cli(ws, "validate-pairs", "--dataset", DS, "--association", "artist")
    assert result.exit_code == 2 and "epoch-00007.parquet" in one_line(result.output)


def test_dataset_from_two_builds_is_refused(synth):
    """A build killed between its table commits leaves splits of one build and tracks of another."""
    ws = synth
    old_splits = ws.root / "old-splits"
    shutil.copytree(ws.dataset(DS) / "splits", old_splits)
    build(ws, "--seed", "2")
    shutil.rmtree(ws.dataset(DS) / "splits")
    shutil.copytree(old_splits, ws.dataset(DS) / "splits")
    result = make(ws, "artist")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "dataset demo is incomplete" in line and "discogs-tools build-dataset --name demo" in line


def test_unversioned_dataset_is_refused_by_make_pairs(tmp_path):
    ws = Workspace(tmp_path / "ws")
    table = pa.table({"track_id": ["a", "b"], "releases": [[1], [1]], "masters": [[], []], "artists": [[1], [1]],
                      "extra_artists": [[], []], "labels": [[1], [1]], "genres": [[], []], "styles": [["x"], ["x"]],
                      "duration_s": [100.0, 100.0], "split": ["train", "train"]})
    write_table(ws.dataset(DS) / "tracks", table, "datasets/tracks")
    result = make(ws, "release")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "dataset demo has no recorded version" in line and "build-dataset --name demo" in line


def test_failed_run_keeps_the_previous_pairs_whole(synth, monkeypatch):
    """A run that fails in its second epoch changes nothing: not even its first epoch replaces
    the previous run's, and no staging folder is left behind."""
    ws = synth
    assert make(ws, "artist", "--epochs", "2").exit_code == 0
    folder = pairs_dir(ws, DS, "artist", "train")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    from discogs_tools.pairs import artist

    original = artist.generate

    def fail_on_epoch_1(ctx):
        if ctx.epoch == 1:
            raise OSError(28, "No space left on device")
        return original(ctx)

    monkeypatch.setattr(artist, "generate", fail_on_epoch_1)
    result = make(ws, "artist", "--epochs", "2", "--seed", "7")
    assert result.exit_code == 2
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


# --- item 1: empty inputs --------------------------------------------------------------------------

def test_zero_pairs_fails_and_keeps_the_previous_pairs(synth, tmp_path):
    """Word2Vec vectors of no split track give zero playlist-w2v pairs: an error naming the
    vectors and the command that makes them, not an empty epoch file with exit 0."""
    ws = synth
    track_ids = sorted(split_of(ws))
    _, links = ps.synthetic_playlists(track_ids, 50, 10, seed=2)
    write_table(ws.table("links/track_playlist_tracks"), links, "links/track_playlist_tracks")
    good = tmp_path / "good.parquet"
    pq.write_table(ps.random_vectors(ps.playlist_keys(len(track_ids)), seed=1), good)
    assert make(ws, "playlist-w2v", "--word2vec", str(good)).exit_code == 0
    folder = pairs_dir(ws, DS, "playlist-w2v", "train")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    unrelated = tmp_path / "unrelated.parquet"
    pq.write_table(ps.random_vectors(["other:1", "other:2"], seed=1), unrelated)
    result = make(ws, "playlist-w2v", "--word2vec", str(unrelated))
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "no playlist-w2v pairs" in line and "split train of dataset demo" in line
    assert str(unrelated) in line and "discogs-tools word2vec --name demo" in line
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_empty_split_names_the_command_that_fills_it(synth):
    ws = synth
    build(ws, "--seed", "1", "--test", "0")
    result = make(ws, "release", "--split", "test")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "split test of dataset demo has 0 track(s)" in line
    assert "discogs-tools build-dataset --name demo" in line and "--test" in line


def _tables_version(ws):
    return {t: table_info(ws.dataset(DS) / t)["version"] for t in ("tracks", "splits", "labels")}


def test_build_dataset_without_links_fails_and_keeps_the_dataset(synth):
    ws = synth
    before = _tables_version(ws)
    links = ws.table("links/track_releases")
    write_table(links, read_table(links).slice(0, 0), "links/track_releases")
    result = cli(ws, "build-dataset", "--name", DS, "--min-releases", "3")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "links/track_releases" in line and "0 links" in line
    assert "discogs-tools match --against discogs" in line
    assert _tables_version(ws) == before


def test_build_dataset_with_links_to_another_dump_fails(synth):
    """Links whose releases are not in discogs/releases (a dump swapped under them) link nothing."""
    ws = synth
    before = _tables_version(ws)
    links = read_table(ws.table("links/track_releases"))
    shifted = links.set_column(links.schema.get_field_index("release_id"), "release_id",
                               pa.array([r + 10_000_000 for r in links.column("release_id").to_pylist()], pa.int64()))
    write_table(ws.table("links/track_releases"), shifted, "links/track_releases")
    result = cli(ws, "build-dataset", "--name", DS, "--min-releases", "3")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "none of the" in line and "discogs/releases" in line and "match --against discogs" in line
    assert _tables_version(ws) == before


def test_build_dataset_with_an_empty_split_fails(tmp_path):
    """Two artists: every artist group is larger than the validation share, so no group fits in
    validation. That is an error (and says why), not a dataset with an empty split."""
    root = tmp_path / "workspace"
    write_synthetic_workspace(root, 40, n_artists=2, n_labels=5, seed=1)
    ws = Workspace(root)
    result = cli(ws, "build-dataset", "--name", DS, "--min-releases", "1")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "the validation split is empty" in line and "no artist group fits" in line and "--validation" in line
    assert not (ws.dataset(DS) / "tracks").exists()


# --- item 7: one writer per output ------------------------------------------------------------------

def test_concurrent_build_dataset_is_refused(synth):
    ws = synth
    before = _tables_version(ws)
    with output_lock(ws.root, "build-dataset", DS):
        result = cli(ws, "build-dataset", "--name", DS, "--min-releases", "3", "--seed", "2")
    assert result.exit_code == 2 and "being written by" in one_line(result.output)
    assert _tables_version(ws) == before


def test_concurrent_make_pairs_is_refused(synth):
    ws = synth
    with output_lock(ws.root, "make-pairs", f"{DS}/artist/train"):
        result = make(ws, "artist")
    assert result.exit_code == 2 and "being written by" in one_line(result.output)
    assert not pairs_dir(ws, DS, "artist", "train").exists()
    assert make(ws, "artist", "--split", "validation").exit_code == 0  # another split is another output


# --- item 2: a dataset is tied to the versions of the tables it was built from -----------------------

def _replace_table(ws: Workspace, table: str) -> None:
    """What `match` (or an ingest) run again does: the same table written anew (a new version)."""
    write_table(ws.table(table), read_table(ws.table(table)), table)


def test_dataset_is_refused_once_its_links_were_replaced(synth):
    """The audit's reproduction: `match` replaced links/track_releases after build-dataset; make-pairs
    on the dataset and validate-pairs of its pairs must refuse it, naming the table and the command."""
    ws = synth
    assert make(ws, "artist").exit_code == 0
    recorded = table_info(ws.dataset(DS) / "tracks")["input_versions"]
    assert recorded["links/track_releases"] == table_info(ws.table("links/track_releases"))["version"]
    assert recorded["discogs/releases"] == table_info(ws.table("discogs/releases"))["version"]
    _replace_table(ws, "links/track_releases")
    for result in (make(ws, "release"), cli(ws, "validate-pairs", "--dataset", DS, "--association", "artist")):
        assert result.exit_code == 2, result.output
        line = one_line(result.output)
        assert "dataset demo was built from links/track_releases version" in line
        assert "which has since been replaced" in line and "run `discogs-tools build-dataset --name demo`" in line
    with pytest.raises(Exception, match="links/track_releases"):
        ParquetPairSource(ws, DS).pairs("artist", "train", 0)
    build(ws, "--seed", "1")
    assert make(ws, "release").exit_code == 0


def test_dataset_built_from_a_table_of_unknown_version_is_refused(synth):
    """A table written before tables recorded versions: whether it changed cannot be told, so the
    dataset is refused with the command that rewrites the table and the one that rebuilds."""
    ws = synth
    (ws.table("discogs/releases") / "_table.json").unlink()
    build(ws, "--seed", "1")
    assert table_info(ws.dataset(DS) / "tracks")["input_versions"]["discogs/releases"] is None
    result = make(ws, "artist")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "discogs/releases of unknown version" in line
    assert "`discogs-tools ingest discogs`" in line and "`discogs-tools build-dataset --name demo`" in line


def test_dataset_recording_no_input_versions_is_refused(synth):
    ws = synth
    info_path = ws.dataset(DS) / "tracks" / "_table.json"
    info = json.loads(info_path.read_text())
    del info["input_versions"]  # as build-dataset wrote it before it recorded them
    info_path.write_text(json.dumps(info))
    result = make(ws, "artist")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "records no versions of the tables it was built from" in line and "build-dataset --name demo" in line


def test_collection_table_appearing_after_the_build_makes_the_dataset_stale(synth):
    ws = synth
    assert table_info(ws.dataset(DS) / "tracks")["input_versions"]["collection/tracks"] == "absent"
    track_ids = sorted(split_of(ws))
    write_table(ws.table("collection/tracks"), pa.table({"track_id": track_ids[:3]}), schema=pa.schema(
        [("track_id", pa.string())]))
    result = make(ws, "artist")
    assert result.exit_code == 2
    assert "built without collection/tracks, which exists now" in one_line(result.output)


def _playlists(ws: Workspace) -> None:
    playlist_tracks, links = ps.synthetic_playlists(sorted(split_of(ws)), 60, 12, seed=2)
    write_table(ws.table("playlists/playlist_tracks"), playlist_tracks, "playlists/playlist_tracks")
    write_table(ws.table("links/track_playlist_tracks"), links, "links/track_playlist_tracks")


def test_playlist_pairs_are_refused_once_a_playlist_table_was_replaced(synth):
    ws = synth
    _playlists(ws)
    assert make(ws, "playlist-co", "--epochs", "2").exit_code == 0
    info = json.loads((pairs_dir(ws, DS, "playlist-co", "train") / "_pairs.json").read_text())
    assert info["input_versions"]["playlists/playlist_tracks"] == table_info(ws.table("playlists/playlist_tracks"))["version"]
    assert info["input_versions"]["links/track_playlist_tracks"] == table_info(ws.table("links/track_playlist_tracks"))["version"]
    assert cli(ws, "validate-pairs", "--dataset", DS, "--association", "playlist-co").exit_code == 0
    _replace_table(ws, "links/track_playlist_tracks")
    result = cli(ws, "validate-pairs", "--dataset", DS, "--association", "playlist-co")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "pairs playlist-co/train of dataset demo were made from links/track_playlist_tracks version" in line
    assert "run `discogs-tools make-pairs --dataset demo --association playlist-co --split train --epochs 2`" in line
    with pytest.raises(Exception, match="links/track_playlist_tracks"):
        ParquetPairSource(ws, DS).pairs("playlist-co", "train", 0)
    # The editorial associations do not read the playlist tables: their pairs stay valid.
    assert make(ws, "artist").exit_code == 0
    assert cli(ws, "validate-pairs", "--dataset", DS, "--association", "artist").exit_code == 0


# --- item 2: epochs drawn in batches ---------------------------------------------------------------

def _files(ws: Workspace, association: str = "artist") -> dict[str, bytes]:
    folder = pairs_dir(ws, DS, association, "train")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_epochs_drawn_in_batches_keep_the_earlier_epochs(synth):
    """`--epoch 2 --epochs 1` after `--epochs 2` adds epoch 2 and keeps 0 and 1 (byte for byte); the
    three epochs are the pairs one `--epochs 3` run draws, and the folder vouches for all three."""
    ws = synth
    assert make(ws, "artist", "--epochs", "3", "--seed", "4").exit_code == 0
    whole = _files(ws)
    assert make(ws, "artist", "--epochs", "2", "--seed", "4").exit_code == 0
    first = _files(ws)
    result = make(ws, "artist", "--epoch", "2", "--epochs", "1", "--seed", "4")
    assert result.exit_code == 0, result.output
    after = _files(ws)
    assert sorted(after) == ["_pairs.json", "epoch-00000.parquet", "epoch-00001.parquet", "epoch-00002.parquet"]
    for name in ("epoch-00000.parquet", "epoch-00001.parquet"):
        assert after[name] == first[name]
    for name in ("epoch-00000.parquet", "epoch-00001.parquet", "epoch-00002.parquet"):
        assert pq.read_table(pairs_dir(ws, DS, "artist", "train") / name).equals(
            pq.read_table(pa.BufferReader(whole[name])))
    info = json.loads(after["_pairs.json"])
    assert info["epochs"] == [0, 1, 2] and set(info["stats"]) == {"0", "1", "2"}
    assert info["kept_epochs"] == [0, 1]
    check = cli(ws, "validate-pairs", "--dataset", DS, "--association", "artist")
    assert check.exit_code == 0 and "epochs: 3" in check.output
    assert not [p for p in pairs_dir(ws, DS, "artist", "train").parent.iterdir() if p.name.startswith(".")]


def test_a_batch_with_another_seed_is_refused_and_changes_nothing(synth):
    ws = synth
    assert make(ws, "artist", "--epochs", "2").exit_code == 0
    before = _files(ws)
    result = make(ws, "artist", "--epoch", "2", "--seed", "9")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "cannot add to the stored pairs artist/train of dataset demo" in line
    assert "seed 0 stored, 9 now" in line
    assert "run `discogs-tools make-pairs --dataset demo --association artist --split train --epochs 3 --seed 9`" in line
    assert _files(ws) == before


def test_a_batch_after_a_rebuild_is_refused_and_changes_nothing(synth):
    ws = synth
    assert make(ws, "artist", "--epochs", "2").exit_code == 0
    build(ws, "--seed", "2", "--validation", "0.3")
    before = _files(ws)
    result = make(ws, "artist", "--epoch", "2")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "cannot add to the stored pairs" in line and "were made from dataset demo version" in line
    assert "to redraw every epoch from 0 run `discogs-tools make-pairs --dataset demo --association artist " \
           "--split train --epochs 3`" in line
    assert _files(ws) == before
    assert make(ws, "artist", "--epochs", "3").exit_code == 0


# --- item 2: a refused training run leaves nothing behind ---------------------------------------------

@pytest.mark.usefixtures("one_torch_thread")
def test_train_refused_for_stale_pairs_leaves_no_run_folder(synth):
    from test_train_data import make_feature_set

    from discogs_tools.pairs.provenance import StalePairsError
    from discogs_tools.train.config import TrainConfig
    from discogs_tools.train.loop import run as train_run

    ws = synth
    make_feature_set(ws.features / "syn", n_groups=4, per_group=4, frames=(40, 60))
    assert make(ws, "artist").exit_code == 0
    build(ws, "--seed", "2", "--validation", "0.3")
    cfg = TrainConfig(run="stale", features="syn", dataset=DS, objective="cola", associations=("artist",),
                      backbone="small_cnn", cnn_width=8, epochs=1, batch_size=8, crop_frames=16, seed=3)
    with pytest.raises(StalePairsError, match="pairs artist/train were made from dataset demo"):
        train_run(ws, cfg)
    assert not (ws.runs / "stale").exists()


def test_forced_train_refused_for_stale_pairs_keeps_the_previous_run(synth):
    """--force used to delete the previous run before the new one was even checked."""
    from test_train_data import GroupPairs, make_feature_set

    from discogs_tools.pairs.provenance import StalePairsError
    from discogs_tools.train.config import TrainConfig
    from discogs_tools.train.loop import run as train_run

    ws = synth
    ids = make_feature_set(ws.features / "syn", n_groups=4, per_group=4, frames=(40, 60))
    assert make(ws, "artist").exit_code == 0
    cfg = TrainConfig(run="kept", features="syn", dataset=DS, objective="cola", associations=("artist",),
                      backbone="small_cnn", cnn_width=8, epochs=1, batch_size=8, crop_frames=16, seed=3)
    train_run(ws, cfg, source=GroupPairs(ids))  # an earlier run, trained on other pairs
    before = (ws.runs / "kept" / "checkpoints" / "last.pt").read_bytes()
    build(ws, "--seed", "2", "--validation", "0.3")
    with pytest.raises(StalePairsError):
        train_run(ws, cfg, force=True)
    assert (ws.runs / "kept" / "checkpoints" / "last.pt").read_bytes() == before
    assert sorted(p.name for p in ws.runs.iterdir()) == ["kept"]
