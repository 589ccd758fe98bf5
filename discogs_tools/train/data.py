"""Training data: where pairs come from (:class:`PairSource`), how tracks become mel crops, and
the per-epoch plan of batches.

A :class:`PairSource` answers one question: *the (anchor, positive) track ids of association A
in split S for epoch E*. :class:`ParquetPairSource` reads the files ``make-pairs`` wrote
(``datasets/<name>/pairs/<A>/<S>.parquet/epoch-*.parquet``) once they are checked against the
dataset's current version;
:class:`IcoPairSource` regenerates pairs every epoch from the current model's embeddings;
tests use tiny in-memory sources. The trainer only sees the interface.

Tracks are resolved to rows of the :class:`~discogs_tools.features.store.FeatureStore`; pairs
whose anchor or positive has no features (or no Word2Vec vector) are counted and skipped, or
are an error with ``strict``. Crops are ``crop_frames`` long: random per epoch for training,
centred (fixed) for validation; shorter tracks are zero-padded (log-mel 0 is silence).
:func:`apply_view_augmentation` turns a batch into the SimCLR baseline's two mixed views.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..errors import ConfigError, DiscogsToolsError, InputError, MissingInputError
from ..features.store import FeatureStore
from ..io import iter_batches, read_table
from ..workspace import Workspace


@dataclass
class Pairs:
    """Anchor and positive track ids (equal lengths)."""

    anchor: Sequence[str]
    positive: Sequence[str]

    def __len__(self) -> int:
        return len(self.anchor)


class PairSource(Protocol):
    """Where the trainer gets each epoch's pairs from."""

    def pairs(self, association: str, split: str, epoch: int) -> Pairs: ...


class ParquetPairSource:
    """Pairs written by ``make-pairs`` under ``datasets/<dataset>/pairs/<association>/<split>.parquet``.

    Every read first checks that the pairs belong to the dataset as it is now
    (:func:`discogs_tools.pairs.provenance.check`): pairs of an earlier build, pairs that record
    no dataset version and stray epoch files are refused with the command that remakes them, so
    tracks of validation or test never leak into training. The make-pairs run seen first is
    pinned: pairs replaced by another run during training are refused too.

    Pairs of epoch ``e`` are used when present; when the files hold fewer epochs (say only 0..K-1),
    epoch ``e`` uses the stored epoch ``sorted(epochs)[e % K]`` and :attr:`notes` says so.
    Validation always uses the first stored epoch (fixed pairs).
    """

    def __init__(self, ws: Workspace, dataset: str) -> None:
        self.ws = ws
        self.dataset = dataset
        self.notes: list[str] = []
        self._runs: dict[Path, dict] = {}

    def path(self, association: str, split: str) -> Path:
        """The checked pairs folder of ``association``/``split`` (see the class docstring)."""
        from ..pairs import provenance
        from ..pairs.output import pairs_dir

        folder = pairs_dir(self.ws, self.dataset, association, split)
        info = provenance.check(self.ws, self.dataset, association, split, folder)
        pinned = self._runs.setdefault(folder, info)
        if info.get("run") != pinned.get("run"):
            raise provenance.StalePairsError(
                f"pairs {association}/{split} were replaced by another make-pairs run (made at "
                f"{info.get('made_at', '?')}) during training: start the training again")
        return folder

    def stored_epochs(self, path: Path) -> list[int]:
        return sorted(int(e) for e in self._runs[path].get("epochs") or [])

    def provenance(self) -> dict[str, dict]:
        """What the pairs read so far were made from, per ``<association>/<split>``: dataset version,
        make-pairs run id, seed and epochs (for the training run's record)."""
        keep = ("dataset", "dataset_version", "run", "made_at", "seed", "epochs")
        return {f"{info.get('association')}/{info.get('split')}": {k: info.get(k) for k in keep}
                for info in self._runs.values()}

    def pairs(self, association: str, split: str, epoch: int) -> Pairs:
        from ..pairs.output import epoch_name
        from ..pairs.provenance import make_command

        path = self.path(association, split)
        epochs = self.stored_epochs(path)
        chosen = epochs[0] if split != "train" else (epoch if epoch in epochs else epochs[epoch % len(epochs)])
        if split == "train" and chosen != epoch:
            note = f"{association}: pairs of epoch {epoch} not stored; reusing stored epoch {chosen}"
            if note not in self.notes:
                self.notes.append(note)
        table = pq.read_table(path / epoch_name(chosen), columns=["anchor", "positive"])
        if table.num_rows == 0:
            raise DiscogsToolsError(f"pairs {association}/{split} of dataset {self.dataset} hold 0 pairs in epoch "
                                    f"{chosen}: run `{make_command(self.dataset, association, split)}`")
        return Pairs(table.column("anchor").to_pylist(), table.column("positive").to_pylist())


# ``embed(track_ids)`` returns (ids that have features, their embeddings as an (n, d) array).
Embedder = Callable[[Sequence[str]], tuple[list[str], np.ndarray]]
# ``ico(split, epoch, seed, embed)`` returns the Informed Co-Occurrence pairs of that epoch.
IcoFunction = Callable[[str, int, int, Embedder], Pairs]


class IcoPairSource:
    """Informed Co-Occurrence: pairs regenerated for every epoch from the current model.

    The trainer sets :attr:`embedder` before asking for pairs; ``ico_fn`` (by default the pairs
    library's ICO generator, see :func:`default_ico_function`) decides which tracks it needs
    embedded and returns the pairs.
    """

    def __init__(self, ico_fn: IcoFunction, seed: int) -> None:
        self.ico_fn = ico_fn
        self.seed = seed
        self.embedder: Embedder | None = None
        # The ICO head's W (seed 004 sec. 5.5.1: the bilinear layer scores the candidates,
        # z_a W z_c^T), set by the trainer with the embedder; None: cosine similarity of z.
        self.bilinear: np.ndarray | None = None
        self.notes: list[str] = []

    def pairs(self, association: str, split: str, epoch: int) -> Pairs:
        if self.embedder is None:
            raise RuntimeError("IcoPairSource needs an embedder (set by the trainer)")
        epoch = epoch if split == "train" else 0
        if self.bilinear is None:
            return self.ico_fn(split, epoch, self.seed, self.embedder)
        return self.ico_fn(split, epoch, self.seed, self.embedder, bilinear=self.bilinear)


def default_ico_function(ws: Workspace, dataset: str | None) -> IcoFunction:
    """Adapter to the pairs library (``discogs_tools.pairs.ico.ico_pairs``), imported when used."""

    def ico(split: str, epoch: int, seed: int, embed: Embedder, bilinear: np.ndarray | None = None) -> Pairs:
        try:
            from ..pairs import ico as ico_module  # type: ignore[attr-defined]
            generate = ico_module.ico_pairs
        except (ImportError, AttributeError):
            raise ConfigError("objective ico needs discogs_tools.pairs.ico.ico_pairs(ws, dataset, split=, epoch=, "
                              "seed=, embed=), which is not available in this installation") from None
        table = generate(ws, dataset, split=split, epoch=epoch, seed=seed, embed=embed, bilinear=bilinear)
        if isinstance(table, Pairs):
            return table
        if isinstance(table, pa.Table):
            return Pairs(table.column("anchor").to_pylist(), table.column("positive").to_pylist())
        return Pairs([str(a) for a in table["anchor"]], [str(p) for p in table["positive"]])

    return ico


class TrackVectors:
    """Frozen Word2Vec vectors per collection track (the positive side of the w2v objective).

    Input: a Parquet file or folder with ``vector`` and either ``track_id`` (used directly) or
    ``track_key`` (playlist track; mapped to collection tracks through
    ``links/track_playlist_tracks``, keeping for each track the link with the highest score, ties
    broken by the smaller track_key). Only vectors of linked tracks are kept in memory.
    """

    def __init__(self, ids: list[str], matrix: np.ndarray) -> None:
        self.row = {t: i for i, t in enumerate(ids)}
        self.matrix = matrix.astype(np.float32, copy=False)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @classmethod
    def load(cls, ws: Workspace, path: str | os.PathLike[str]) -> "TrackVectors":
        path = Path(path)
        if not path.exists():
            raise MissingInputError("Word2Vec vectors", path, "discogs-tools word2vec")
        names = pads.dataset(str(path), format="parquet").schema.names
        if "vector" not in names or not ({"track_id", "track_key"} & set(names)):
            raise InputError(path, f"expected columns vector and track_id or track_key, found {names}")
        key_col = "track_id" if "track_id" in names else "track_key"
        key_to_track: dict[str, list[str]] = {}
        if key_col == "track_key":
            links = read_table(ws.require_table("links/track_playlist_tracks", "discogs-tools match"),
                               columns=["track_id", "track_key", "score"])
            best: dict[str, tuple[float, str]] = {}
            for tid, key, score in zip(*(links.column(c).to_pylist() for c in ("track_id", "track_key", "score"))):
                cand = (-(score or 0.0), key)
                if tid not in best or cand < best[tid]:
                    best[tid] = cand
            for tid, (_, key) in best.items():
                key_to_track.setdefault(key, []).append(tid)
        ids: list[str] = []
        rows: list[np.ndarray] = []
        for batch in iter_batches(path, columns=[key_col, "vector"]):
            keys = batch.column(0).to_pylist()
            vecs = batch.column(1)
            for i, key in enumerate(keys):
                targets = [key] if key_col == "track_id" else key_to_track.get(key, [])
                if not targets:
                    continue
                v = np.asarray(vecs[i].as_py(), dtype=np.float32)
                for tid in targets:
                    ids.append(tid)
                    rows.append(v)
        if not rows:
            raise InputError(path, "no vector belongs to a collection track")
        return cls(ids, np.stack(rows))


@dataclass
class StyleTargets:
    """Top-N style vocabulary and each track's style indices, from ``datasets/<name>/tracks``."""

    vocabulary: list[str]
    by_split: dict[str, tuple[list[str], list[np.ndarray]]] = field(default_factory=dict)

    @classmethod
    def load(cls, ws: Workspace, dataset: str, top_n: int) -> "StyleTargets":
        folder = ws.dataset(dataset) / "tracks"
        if not folder.exists():
            raise MissingInputError(f"dataset {dataset} tracks", folder, "discogs-tools build-dataset")
        table = read_table(folder, columns=["track_id", "styles", "split"])
        counts: dict[str, int] = {}
        for styles, split in zip(table.column("styles").to_pylist(), table.column("split").to_pylist()):
            if split == "train":
                for s in set(styles or []):
                    counts[s] = counts.get(s, 0) + 1
        vocabulary = [s for s, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]]
        index = {s: i for i, s in enumerate(vocabulary)}
        out = cls(vocabulary)
        for tid, styles, split in zip(*(table.column(c).to_pylist() for c in ("track_id", "styles", "split"))):
            labels = np.array(sorted({index[s] for s in styles or [] if s in index}), dtype=np.int64)
            if len(labels):
                ids, labs = out.by_split.setdefault(split, ([], []))
                ids.append(tid)
                labs.append(labels)
        return out


def crops(store: FeatureStore, positions: np.ndarray, length: int, rng: np.random.Generator | None) -> np.ndarray:
    """(n, 1, length, n_mels) float32 crops: random starts with ``rng``, centred without; a track
    shorter than ``length`` is zero padded after its frames.

    Built by :func:`~.loader.build_crops` (one vectorised draw of the batch's starts, the same
    numbers as one draw per crop; float16 copies, one float32 conversion). Inside
    :func:`~.loader.prefetch_batches` the crops come from its worker threads and reusable buffers."""
    from .loader import build_crops

    return build_crops(store, positions, length, rng)


def prefetch(batches, store: FeatureStore, cfg) -> Iterator:
    """The trainer's hook: ``batches`` built ahead by :func:`~.loader.prefetch_batches` with
    ``cfg.num_workers`` crop threads (0: in process, as before) and ``cfg.prefetch`` batches of
    depth (2 where the config has no such field); pinned buffers when training on CUDA."""
    from .loader import prefetch_batches

    workers = int(getattr(cfg, "num_workers", 0) or 0)
    depth = int(getattr(cfg, "prefetch", 2) or 2)
    import torch

    device = str(getattr(cfg, "device", "cpu"))
    pin = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return prefetch_batches(batches, store, workers=workers, depth=depth, pin=pin)


@dataclass
class TaskPlan:
    """One association's pairs for one epoch on this rank, as feature-store rows."""

    name: str
    anchor: np.ndarray
    positive: np.ndarray
    extra: list | np.ndarray | None = None  # w2v: vector rows; classification: style index arrays

    def __len__(self) -> int:
        return len(self.anchor)


def shard_for_rank(order: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This rank's share of a permutation; every rank gets the same count (remainder dropped)."""
    per_rank = len(order) // world
    return order[rank::world][:per_rank]


def steps_in(plans: list[TaskPlan], sizes: list[int], cap: int | None) -> int:
    steps = min(-(-len(p) // s) for p, s in zip(plans, sizes)) if plans else 0
    return min(steps, cap) if cap is not None else steps


def apply_view_augmentation(x_anchor: np.ndarray, x_positive: np.ndarray | None, cfg,
                            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """The two audio views of a batch, as the run's ``simclr_augment`` asks.

    ``"mix"`` (the SimCLR baseline of ICASSP 2023, seed 004 sec. 5.3.3): "x and y are alternative
    views of the same audio patch mixed with random patches from the batch scaled with a gain
    factor sampled from a beta(5,2) distribution". Both views start from ``x_anchor`` (the patch;
    ``x_positive`` is not used, so the trainer need not crop it) and each view ``v`` of row ``i`` is

        v_i = x_i + g * x_j,   g ~ Beta(*cfg.mix_gain_beta),   j uniform over the other rows,

    with its own ``g`` and ``j`` per view and row. The seed names the distribution and that the
    random patch is the one scaled, not the arithmetic; this is the plain additive reading, applied
    to the stored (log-compressed) mel patches. Draws come from ``rng`` in a fixed order (gains of
    view a, partners of view a, then view b), so a seeded generator gives identical views.

    Any other setting (``"none"``, or an objective other than simclr) returns the inputs as they
    are and draws nothing from ``rng``.
    """
    if getattr(cfg, "simclr_augment", "none") != "mix" or getattr(cfg, "objective", None) != "simclr":
        return x_anchor, x_positive
    n = len(x_anchor)
    if n < 2:
        raise ConfigError(f"SimCLR mix views need a batch of at least 2 patches, got {n}")
    a, b = (float(v) for v in cfg.mix_gain_beta)
    shape = (n,) + (1,) * (x_anchor.ndim - 1)

    def view() -> np.ndarray:
        gain = rng.beta(a, b, size=n).astype(np.float32)
        partner = (np.arange(n) + rng.integers(1, n, size=n)) % n  # never the row itself
        return (x_anchor + gain.reshape(shape) * x_anchor[partner]).astype(np.float32, copy=False)

    first = view()
    return first, view()
