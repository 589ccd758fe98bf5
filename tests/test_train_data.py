"""Trainer data side: synthetic feature sets and pair sources used by all trainer tests, plus tests
of crops, stored-pair reading and missing-feature accounting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from discogs_tools.errors import DiscogsToolsError, MissingInputError
from discogs_tools.features.extract import settings_for
from discogs_tools.features.mel import MelFrontEnd
from discogs_tools.features.store import FeatureStore, ShardWriter, write_settings
from discogs_tools.io import table_info
from discogs_tools.train.data import Pairs, ParquetPairSource, crops, shard_for_rank

N_MELS = 96


def group_of(track_id: str) -> int:
    return int(track_id.split("-")[0][1:])


def make_feature_set(root: Path, n_groups: int = 4, per_group: int = 4, seed: int = 0,
                     frames: tuple[int, int] = (150, 260), short: int = 0) -> list[str]:
    """Tracks ``g<group>-<i>`` whose spectrograms share their group's spectral signature plus noise
    (so that pairs within a group share a signal); ``short`` extra tracks are shorter than a crop."""
    rng = np.random.default_rng(seed)
    write_settings(root, settings_for(MelFrontEnd(), None))
    (root / "index").mkdir(parents=True, exist_ok=True)
    signatures = rng.uniform(0.0, 3.0, size=(n_groups, N_MELS)).astype(np.float32)
    ids: list[str] = []
    writer = ShardWriter(root, 0, N_MELS)
    for g in range(n_groups):
        for i in range(per_group):
            n = int(rng.integers(*frames))
            env = 0.5 + 0.5 * np.sin(np.arange(n) / rng.uniform(3, 9))[:, None]
            mel = signatures[g] * env + rng.normal(0, 0.3, size=(n, N_MELS))
            tid = f"g{g}-{i}"
            writer.add(tid, np.clip(mel, 0, None).astype(np.float32))
            ids.append(tid)
    writer.commit()
    if short:
        writer = ShardWriter(root, 1, N_MELS)
        for i in range(short):
            tid = f"g0-short{i}"
            writer.add(tid, np.abs(rng.normal(1, 0.3, size=(40, N_MELS))).astype(np.float32))
            ids.append(tid)
        writer.commit()
    return ids


class GroupPairs:
    """Pair source: per epoch, tracks of each group shuffled and paired two by two (seeded)."""

    def __init__(self, track_ids: list[str], extra_pairs: list[tuple[str, str]] = (), seed: int = 0) -> None:
        self.track_ids = sorted(track_ids)
        self.extra = list(extra_pairs)
        self.seed = seed
        self.calls: list[tuple[str, str, int]] = []

    def pairs(self, association: str, split: str, epoch: int) -> Pairs:
        self.calls.append((association, split, epoch))
        rng = np.random.default_rng([self.seed, epoch, 0 if split == "train" else 99])
        groups: dict[int, list[str]] = {}
        for t in self.track_ids:
            groups.setdefault(group_of(t), []).append(t)
        anchors, positives = [], []
        for members in groups.values():
            order = [members[i] for i in rng.permutation(len(members))]
            for a, p in zip(order[::2], order[1::2]):
                anchors.append(a)
                positives.append(p)
        for a, p in self.extra:
            anchors.append(a)
            positives.append(p)
        return Pairs(anchors, positives)


def test_crops_random_fixed_and_padding(tmp_path: Path):
    ids = make_feature_set(tmp_path / "f", n_groups=1, per_group=2, short=1)
    store = FeatureStore(tmp_path / "f")
    pos = store.positions(ids)
    fixed1 = crops(store, pos, 128, None)
    fixed2 = crops(store, pos, 128, None)
    assert fixed1.shape == (3, 1, 128, N_MELS) and np.array_equal(fixed1, fixed2)
    full = store.get(ids[0]).astype(np.float32)
    start = (len(full) - 128) // 2
    assert np.array_equal(fixed1[0, 0], full[start:start + 128])
    # the short track (40 frames) is zero padded after its frames
    assert np.array_equal(fixed1[2, 0, :40], store.get(ids[2]).astype(np.float32))
    assert not fixed1[2, 0, 40:].any()
    r1 = crops(store, pos, 128, np.random.default_rng(1))
    r2 = crops(store, pos, 128, np.random.default_rng(1))
    assert np.array_equal(r1, r2)
    starts = {int(np.flatnonzero((np.lib.stride_tricks.sliding_window_view(full, (128, N_MELS))[:, 0] ==
                                  crops(store, pos[:1], 128, np.random.default_rng(s))[0, 0]).all((1, 2)))[0])
              for s in range(8)}
    assert len(starts) > 1  # random crops move


def test_shard_for_rank_gives_equal_disjoint_shares():
    order = np.random.default_rng(0).permutation(11)
    shares = [shard_for_rank(order, r, 3) for r in range(3)]
    assert {len(s) for s in shares} == {3}
    assert len(set(np.concatenate(shares).tolist())) == 9


def write_stored_pairs(ws, dataset: str, association: str, by_split: dict[str, dict[int, Pairs]]) -> None:
    """Stored pairs exactly as ``make-pairs`` lays them out: a versioned dataset ``dataset`` whose
    tracks are the pairs' tracks (``split`` from the pairs), then one run per split (epoch files
    stamped with the dataset version, ``_pairs.json``). For trainer tests with hand-made pairs."""
    from discogs_tools.dataset.version import VERSION_KEY, new_version, write_tracks
    from discogs_tools.io import atomic_path
    from discogs_tools.pairs import provenance
    from discogs_tools.pairs.output import SCHEMA, epoch_name, pairs_dir, write_epoch
    from discogs_tools.schemas import conform, load_schema

    version = new_version()
    split_of = {t: split for split, epochs in by_split.items() for pairs in epochs.values()
                for t in [*pairs.anchor, *pairs.positive]}
    ids = sorted(split_of)
    n = len(ids)
    tracks = pa.table({"track_id": ids, "releases": [[1]] * n, "masters": [[]] * n, "artists": [[1]] * n,
                       "extra_artists": [[]] * n, "labels": [[1]] * n, "genres": [[]] * n, "styles": [["x"]] * n,
                       "duration_s": [100.0] * n, "split": [split_of[t] for t in ids]})
    write_tracks(ws, dataset, tracks, version)
    nulls = {c: None for c in ("shared_releases", "shared_artists", "shared_labels", "shared_playlists")}
    for split, epochs in by_split.items():
        with atomic_path(pairs_dir(ws, dataset, association, split), is_dir=True) as staging:
            for epoch, pairs in epochs.items():
                rows = [{"anchor": a, "positive": b, "association": association, "split": split, "epoch": epoch,
                         **nulls} for a, b in zip(pairs.anchor, pairs.positive)]
                table = conform(pa.Table.from_pylist(rows, schema=load_schema(SCHEMA)), load_schema(SCHEMA))
                write_epoch(staging, epoch, table, version)
            provenance.write_info(staging, {"dataset": dataset, "association": association, "split": split,
                                            VERSION_KEY: version, "run": new_version(), "seed": 0,
                                            "epochs": sorted(epochs), "files": [epoch_name(e) for e in sorted(epochs)]})


def test_parquet_pair_source_epochs_and_missing(ws):
    write_stored_pairs(ws, "d", "artist", {"train": {0: Pairs(["a", "b"], ["b", "a"]),
                                                     1: Pairs(["c", "d"], ["d", "c"])}})
    src = ParquetPairSource(ws, "d")
    assert list(src.pairs("artist", "train", 1).anchor) == ["c", "d"]
    # only epochs 0 and 1 are stored: epoch 2 reuses epoch 0, and says so
    assert list(src.pairs("artist", "train", 2).anchor) == ["a", "b"]
    assert any("epoch 2" in n for n in src.notes)
    assert src.provenance()["artist/train"]["epochs"] == [0, 1]
    assert src.provenance()["artist/train"]["dataset_version"] == table_info(ws.dataset("d") / "tracks")["dataset_version"]
    with pytest.raises(MissingInputError, match="make-pairs --dataset d --association release"):
        src.pairs("release", "train", 0)


def test_parquet_pair_source_refuses_pairs_replaced_during_training(ws):
    """The run read first is pinned: another make-pairs run replacing the pairs mid-training
    (other tracks, other seed) stops the trainer instead of mixing two runs."""
    write_stored_pairs(ws, "d", "artist", {"train": {0: Pairs(["a", "b"], ["b", "a"])}})
    src = ParquetPairSource(ws, "d")
    assert len(src.pairs("artist", "train", 0)) == 2
    info_path = ws.dataset("d") / "pairs" / "artist" / "train.parquet" / "_pairs.json"
    info = json.loads(info_path.read_text())
    info["run"] = "another-run"
    info_path.write_text(json.dumps(info))
    with pytest.raises(DiscogsToolsError, match="replaced by another make-pairs run"):
        src.pairs("artist", "train", 1)


def test_parquet_pair_source_refuses_an_empty_epoch(ws):
    write_stored_pairs(ws, "d", "artist", {"train": {0: Pairs([], [])}})
    with pytest.raises(DiscogsToolsError, match="hold 0 pairs in epoch 0: run `discogs-tools make-pairs --dataset d"):
        ParquetPairSource(ws, "d").pairs("artist", "train", 0)


# ---------------------------------------------------------------- SimCLR mix views (issue 12)

def _simclr_cfg(**kw):
    from discogs_tools.train.config import TrainConfig

    return TrainConfig(run="r", features="f", objective="simclr", associations=("track",), simclr_augment="mix", **kw)


def _one_hot_patches(n: int) -> np.ndarray:
    """Patch i is 1 at band i and 0 elsewhere: a view's other non-zero band names the patch mixed
    in, and its value is the gain."""
    return np.eye(n, dtype=np.float32).reshape(n, 1, 1, n)


def test_simclr_views_mix_the_same_patch_with_another_patch_of_the_batch():
    from discogs_tools.train.data import apply_view_augmentation

    n = 50
    x = _one_hot_patches(n)
    va, vb = apply_view_augmentation(x, None, _simclr_cfg(), np.random.default_rng(0))
    assert va.shape == vb.shape == x.shape and va.dtype == np.float32
    for view in (va, vb):
        rows = view[:, 0, 0]
        assert np.array_equal(np.diag(rows), np.ones(n, np.float32))  # the patch itself, unscaled
        off = rows - np.eye(n, dtype=np.float32)
        assert np.array_equal((off > 0).sum(1), np.ones(n))            # one other patch of the batch ...
        assert np.all(np.diag(off) == 0)                               # ... never the patch itself
    assert not np.array_equal(va, vb)                                  # two independent views


def test_simclr_mix_gain_follows_beta_5_2():
    """Seed 004 sec. 5.3.3: gain ~ Beta(5, 2) (mean 5/7, variance 10/392); checked over 4,000 draws."""
    from scipy import stats

    from discogs_tools.train.data import apply_view_augmentation

    n = 200
    x = _one_hot_patches(n)
    rng = np.random.default_rng(7)
    gains = []
    for _ in range(10):
        for view in apply_view_augmentation(x, None, _simclr_cfg(), rng):
            gains.append((view[:, 0, 0] - np.eye(n)).max(1))
    g = np.concatenate(gains)
    assert g.size == 4000 and np.all((g > 0) & (g < 1))
    assert g.mean() == pytest.approx(5 / 7, abs=0.01)
    assert g.var() == pytest.approx(10 / 392, rel=0.1)
    assert stats.kstest(g, stats.beta(5, 2).cdf).pvalue > 0.01
    other = _simclr_cfg(mix_gain_beta=(2.0, 5.0))
    g2 = np.concatenate([(v[:, 0, 0] - np.eye(n)).max(1) for v in apply_view_augmentation(x, None, other, rng)])
    assert g2.mean() == pytest.approx(2 / 7, abs=0.03)


def test_simclr_mix_is_deterministic_given_the_generator_and_off_by_default():
    from discogs_tools.train.config import TrainConfig
    from discogs_tools.train.data import apply_view_augmentation

    x = np.random.default_rng(0).random((8, 1, 16, 4)).astype(np.float32)
    a = apply_view_augmentation(x, None, _simclr_cfg(), np.random.default_rng(3))
    b = apply_view_augmentation(x, None, _simclr_cfg(), np.random.default_rng(3))
    c = apply_view_augmentation(x, None, _simclr_cfg(), np.random.default_rng(4))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    plain = TrainConfig(run="r", features="f", objective="simclr", associations=("track",))
    rng = np.random.default_rng(3)
    xp = x + 1
    out = apply_view_augmentation(x, xp, plain, rng)
    assert out[0] is x and out[1] is xp                                # none: untouched ...
    assert rng.random() == np.random.default_rng(3).random()           # ... and no draw consumed


def test_ico_pair_source_hands_the_bilinear_weights_to_the_generator():
    from discogs_tools.train.data import IcoPairSource

    seen = []

    def ico_fn(split, epoch, seed, embed, **kw):
        seen.append((split, epoch, kw.get("bilinear")))
        return Pairs(["a"], ["b"])

    src = IcoPairSource(ico_fn, seed=0)
    src.embedder = lambda ids: (ids, np.zeros((len(ids), 2)))
    src.pairs("playlist-ico", "train", 3)
    src.bilinear = np.eye(2)
    src.pairs("playlist-ico", "validation", 3)
    assert seen[0] == ("train", 3, None)
    assert seen[1][:2] == ("validation", 0) and np.array_equal(seen[1][2], np.eye(2))
