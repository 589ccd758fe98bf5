"""``word2vec``: gensim Word2Vec track embeddings with playlists as sentences.

Defaults follow the ICASSP 2023 playlist paper (DESIGN section 4, playlist-w2v): CBOW (sg=0),
a window covering the whole playlist (window = longest sentence) with shrink_windows off,
alpha 0.02, 20 epochs, min_count 1; vector_size configurable (default 100).

Outputs, by default in ``workspace/datasets/<name>/word2vec/`` (the table contract; ``out``
overrides), written atomically as one folder:

* ``vectors.kv``       gensim KeyedVectors (``KeyedVectors.load(path)``)
* ``vectors.parquet``  track_key string, vector list<float32> (schema playlists/word2vec_vectors)
* ``params.json``      parameters, corpus counts and the loss of every epoch

An empty playlists/playlist_tracks is an error (:class:`~discogs_tools.errors.EmptyInputError`) and the
previous output stays. A run holds the output lock of its output (``--name`` or ``--out``
folder): a second run writing the same output fails at once, naming the holder.

Determinism: with ``workers=1`` the same table and seed give bit-identical vectors, whatever
PYTHONHASHSEED is (gensim initialises vectors from the seed; its ``hashfxn`` is replaced by a
stable hash for good measure). With several workers thread scheduling makes results vary.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .. import manifest
from ..errors import ConfigError, EmptyInputError
from ..io import atomic_path, write_json_atomic
from ..locks import output_lock
from ..report import Report
from ..schemas import conform, load_schema
from ..workspace import Workspace
from .empty import require_rows
from .sentences import GENSIM_MAX_SENTENCE, PlaylistSentences

STAGE = "word2vec"
INPUT_TABLE = "playlists/playlist_tracks"
VECTORS_SCHEMA = "playlists/word2vec_vectors"


@dataclass(frozen=True)
class Word2VecParams:
    """Training parameters (saved in params.json). ``window=None`` covers the whole playlist."""

    vector_size: int = 100
    window: int | None = None
    epochs: int = 20
    alpha: float = 0.02
    min_alpha: float = 0.0001
    min_count: int = 1
    negative: int = 5
    sample: float = 0.001
    sg: int = 0
    workers: int = 1
    seed: int = 0
    max_sentence_length: int = GENSIM_MAX_SENTENCE

    def validate(self) -> None:
        if self.vector_size < 1:
            raise ConfigError(f"vector size must be positive, got {self.vector_size}")
        if self.window is not None and self.window < 1:
            raise ConfigError(f"window must be positive, got {self.window}")
        if self.epochs < 1:
            raise ConfigError(f"epochs must be at least 1, got {self.epochs}")
        if self.min_count < 1:
            raise ConfigError(f"min count must be at least 1, got {self.min_count}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if self.sg not in (0, 1):
            raise ConfigError(f"sg must be 0 (CBOW) or 1 (skip-gram), got {self.sg}")
        if not 1 <= self.max_sentence_length <= GENSIM_MAX_SENTENCE:
            raise ConfigError(f"max sentence length must be in 1..{GENSIM_MAX_SENTENCE}")


def stable_hash(text: str) -> int:
    """Process-independent string hash for gensim's ``hashfxn`` (Python's hash is salted)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def default_output(workspace: Workspace, name: str) -> Path:
    """Where ``word2vec --name NAME`` writes: ``workspace/datasets/NAME/word2vec``."""
    return workspace.dataset(name) / "word2vec"


def load_vectors(folder: str | Path) -> tuple[list[str], np.ndarray]:
    """Track keys and the (n, vector_size) float32 matrix from ``vectors.parquet`` of a run folder."""
    table = pq.read_table(Path(folder) / "vectors.parquet")
    keys = table.column("track_key").to_pylist()
    values = table.column("vector").combine_chunks()
    size = len(values[0]) if len(values) else 0
    return keys, values.flatten().to_numpy().reshape(len(keys), size).astype(np.float32, copy=False)


def _epoch_callback(on_epoch: Callable[[dict[str, Any]], None] | None, tokens: int, losses: list[dict[str, Any]]):
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochLog(CallbackAny2Vec):
        """Records (and forwards) the loss and speed of every epoch."""

        def __init__(self) -> None:
            self.epoch = 0
            self.previous_loss = 0.0
            self.started = 0.0

        def on_epoch_begin(self, model: Any) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, model: Any) -> None:
            self.epoch += 1
            cumulative = float(model.get_latest_training_loss())
            seconds = time.perf_counter() - self.started
            entry = {"epoch": self.epoch, "loss": cumulative - self.previous_loss, "seconds": round(seconds, 3),
                     "tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else None}
            self.previous_loss = cumulative
            losses.append(entry)
            if on_epoch is not None:
                on_epoch(entry)

    return EpochLog()


def _write_vectors(path: Path, keys: list[str], vectors: np.ndarray, rows_per_group: int = 100_000) -> None:
    schema = load_schema(VECTORS_SCHEMA)
    size = vectors.shape[1]
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, len(keys), rows_per_group):
            block = np.ascontiguousarray(vectors[start:start + rows_per_group], dtype=np.float32)
            offsets = pa.array(np.arange(0, block.size + 1, size, dtype=np.int32))
            column = pa.ListArray.from_arrays(offsets, pa.array(block.ravel()))
            writer.write_table(conform(pa.table({"track_key": keys[start:start + rows_per_group], "vector": column}),
                                       schema, table=VECTORS_SCHEMA))
        if not keys:
            writer.write_table(schema.empty_table())


def run(workspace: Workspace, *, name: str = "playlists", out: Path | None = None,
        params: Word2VecParams | None = None, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> Report:
    """Train Word2Vec on playlists/playlist_tracks and save the vectors (see module docstring).

    ``on_epoch`` is called after every epoch with ``{"epoch", "loss", "seconds", "tokens_per_s"}``
    (the CLI prints it as progress).
    """
    params = params or Word2VecParams()
    params.validate()
    ws = workspace.ensure()
    target = Path(out) if out is not None else default_output(ws, name)
    with output_lock(ws.root, STAGE, _lock_name(ws, name, target)):
        return _run_locked(ws, name=name, out=out, target=target, params=params, on_epoch=on_epoch)


def _lock_name(ws: Workspace, name: str, target: Path) -> str:
    """Lock key of an output: the dataset name for the default folder, else the folder's path."""
    resolved = target.resolve()
    if resolved == default_output(ws, name).resolve():
        return name
    return "out-" + hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:16]


def _run_locked(ws: Workspace, *, name: str, out: Path | None, target: Path, params: Word2VecParams,
                on_epoch: Callable[[dict[str, Any]], None] | None) -> Report:
    from gensim.models import Word2Vec

    table = ws.require_table(INPUT_TABLE, "discogs-tools ingest playlists")
    require_rows(table, "playlist entries", "discogs-tools ingest playlists")
    sentences = PlaylistSentences(table, max_length=params.max_sentence_length)

    with manifest.Timer() as timer:
        scan = sentences.scan()
        if scan.tokens == 0:
            raise EmptyInputError(f"{table}: no rows with a track (0 tokens); nothing to train on and the previous "
                                  "output is kept; run `discogs-tools ingest playlists` with usable inputs first")
        window = params.window or max(1, scan.max_sentence_length)
        warnings = []
        if scan.split_playlists:
            warnings.append(f"{scan.split_playlists} playlists longer than {params.max_sentence_length} tokens "
                            f"(longest {scan.max_playlist_length}) were split into consecutive chunks "
                            f"(gensim's sentence limit); context windows do not cross chunk borders")
        model = Word2Vec(vector_size=params.vector_size, window=window, min_count=params.min_count,
                         sg=params.sg, alpha=params.alpha, min_alpha=params.min_alpha, negative=params.negative,
                         sample=params.sample, workers=params.workers, seed=params.seed, shrink_windows=False,
                         hashfxn=stable_hash, compute_loss=True)
        model.build_vocab(corpus_iterable=sentences)
        losses: list[dict[str, Any]] = []
        with manifest.Timer() as train_timer:
            model.train(corpus_iterable=sentences, total_examples=model.corpus_count, epochs=params.epochs,
                        compute_loss=True, callbacks=[_epoch_callback(on_epoch, scan.tokens, losses)])
        keys = list(model.wv.index_to_key)
        info = {"params": {**asdict(params), "window_used": window}, "corpus": asdict(scan),
                "vocabulary": len(keys), "epochs": losses}
        with atomic_path(target, is_dir=True) as tmp:
            model.wv.save(str(tmp / "vectors.kv"))
            _write_vectors(tmp / "vectors.parquet", keys, model.wv.vectors)
            write_json_atomic(tmp / "params.json", info)

    report = Report(
        stage=STAGE,
        counts={"playlists": scan.playlists, "sentences": scan.sentences, "tokens": scan.tokens,
                "vocabulary": len(keys), "split_playlists": scan.split_playlists, "epochs": params.epochs},
        outputs={"folder": str(target), "keyed_vectors": str(target / "vectors.kv"),
                 "vectors": str(target / "vectors.parquet")},
        figures={"seconds": round(timer.seconds, 3), "train_seconds": round(train_timer.seconds, 3),
                 "tokens_per_s": round(scan.tokens * params.epochs / train_timer.seconds, 1)
                 if train_timer.seconds > 0 else 0.0,
                 "window": window, "vector_size": params.vector_size,
                 "final_epoch_loss": losses[-1]["loss"] if losses else None},
        details=[{"epochs": losses}],
        warnings=warnings,
    )
    manifest.record(ws.manifest_path, f"{STAGE} {name}" if out is None else f"{STAGE} {target}",
                    {**report.to_dict(), "inputs": {"table": str(table)}, "params": info["params"]})
    return report
