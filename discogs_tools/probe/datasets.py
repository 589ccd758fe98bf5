"""Downstream datasets of the probe: labelled tracks or similarity triplets, from a manifest file.

A manifest is a CSV, TSV, JSON Lines (``.jsonl``/``.ndjson``) or Parquet file (or a folder of
Parquet parts). Its columns name what it holds:

- labelled tracks: ``track_id`` (or an audio ``path``, mapped to its track_id through
  tables/collection/tracks), then either ``labels`` (multi-label: a list of strings, or one string
  with a separator, ``,`` by default) or ``label`` (multi-class: one class per track);
- similarity triplets (as in dim-sim): ``anchor``, ``positive``, ``negative`` track ids;
- optionally ``split`` with fixed ``train`` / ``validation`` / ``test`` values (aliases ``val``,
  ``valid``, ``dev``, ``training``, ``testing``). A triplet manifest whose records are all
  ``test`` (dim-sim as ``benchmark prepare`` writes it) is evaluated on the frozen embeddings only
  (seed 004 sec. 5.3.6; :func:`evaluate_frozen_triplets`).

Without a split column a split is drawn per track (per triplet) from a seeded hash of its id, so
it does not depend on which other records are present: runs probed on different embedding files
share their split for every common track. Fixed splits without validation rows get a validation
part carved from train the same way.

Bad records (no track id, labels missing, a duplicate track, an unknown split, a class that never
occurs in train) raise a one-line :class:`~discogs_tools.errors.InputError` naming the file, the
line and the reason, or, with ``skip_invalid``, are written to the rejects file and counted
(records read = records used + rejected). Downstream datasets are small (at most some 10^5
tracks), so a manifest is held in memory.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ConfigError, InputError, MissingInputError, RejectsWriter
from ..io import iter_batches, read_table, table_files
from ..schemas import conform, load_schema
from ..workspace import Workspace

MULTILABEL = "multilabel"
MULTICLASS = "multiclass"
TRIPLETS = "triplets"
KINDS = (MULTILABEL, MULTICLASS, TRIPLETS)
SPLITS = ("train", "validation", "test")
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation",
    "test": "test", "testing": "test",
}
PATH_COLUMNS = ("path", "audio_path", "audio", "file")
TRIPLET_COLUMNS = ("anchor", "positive", "negative")


@dataclass(frozen=True)
class DatasetOptions:
    """How to read a manifest.

    ``kind``: ``auto`` (triplet columns -> triplets, ``labels`` -> multi-label, ``label`` ->
    multi-class) or one of :data:`KINDS`. ``label_column`` overrides the label column's name.
    ``separator`` splits a string label column of a multi-label manifest. ``allow_empty_labels``
    keeps multi-label tracks with an empty label set (negatives for every class) instead of
    treating them as missing. ``fractions``: train/validation/test shares of a drawn split;
    ``validation_fraction``: share of train moved to validation when fixed splits have none.
    """

    kind: str = "auto"
    label_column: str | None = None
    separator: str = ","
    allow_empty_labels: bool = False
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    validation_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.kind != "auto" and self.kind not in KINDS:
            raise ConfigError(f"unknown probe task kind {self.kind!r}; choose auto, {', '.join(KINDS)}")
        if len(self.fractions) != 3 or min(self.fractions) < 0 or abs(sum(self.fractions) - 1) > 1e-6:
            raise ConfigError(f"split fractions must be three shares summing to 1, got {self.fractions}")
        if self.fractions[0] <= 0 or self.fractions[2] <= 0:
            raise ConfigError("split fractions need a train and a test share above 0")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(f"validation fraction must lie in (0, 1), got {self.validation_fraction}")


class BadRecords:
    """What happens to a malformed record: an :class:`InputError` (``rejects`` is None), or one line
    in the rejects file and a count."""

    def __init__(self, path: str | os.PathLike[str], rejects: RejectsWriter | None = None) -> None:
        self.path = str(path)
        self.rejects = rejects
        self.count = 0
        self.reasons: Counter[str] = Counter()

    def reject(self, reason: str, *, record: Any = None, line: int | None = None, kind: str | None = None) -> None:
        """Reject one record; ``kind`` is a short reason class used in the counts."""
        if self.rejects is None:
            raise InputError(self.path, f"{reason} (pass --skip-invalid to count such records into the "
                             "rejects file instead)", record=record, line=line)
        self.rejects.add(file=self.path, record=record, reason=f"line {line}: {reason}" if line else reason)
        self.count += 1
        self.reasons[kind or reason] += 1


@dataclass
class ProbeDataset:
    """Records of one downstream task after validation (only the records kept).

    For labelled kinds ``columns = {"track_id": [...], "labels": [[...], ...]}``; for triplets
    ``{"anchor", "positive", "negative"}``. ``splits[i]`` is None until :func:`assign_splits`.
    ``classes`` (labelled kinds) is the sorted vocabulary of the train split, set by :func:`fix_vocabulary`.
    """

    kind: str
    path: Path
    columns: dict[str, list[Any]]
    splits: list[str | None]
    lines: list[int]
    records_read: int
    fixed_split: bool
    classes: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def track_ids(self) -> list[str]:
        """Every track the records refer to (sorted, distinct)."""
        if self.kind == TRIPLETS:
            ids: set[str] = set()
            for name in TRIPLET_COLUMNS:
                ids.update(self.columns[name])
            return sorted(ids)
        return sorted(set(self.columns["track_id"]))

    def record_id(self, i: int) -> str:
        """How error messages and rejects name record ``i``."""
        if self.kind == TRIPLETS:
            return "/".join(self.columns[c][i] for c in TRIPLET_COLUMNS)
        return self.columns["track_id"][i]

    def keep(self, mask: Sequence[bool]) -> ProbeDataset:
        """The records where ``mask`` is true."""
        idx = [i for i, k in enumerate(mask) if k]
        return replace(
            self,
            columns={k: [v[i] for i in idx] for k, v in self.columns.items()},
            splits=[self.splits[i] for i in idx],
            lines=[self.lines[i] for i in idx],
        )

    def split_indices(self, split: str) -> np.ndarray:
        return np.array([i for i, s in enumerate(self.splits) if s == split], dtype=np.int64)

    def split_sizes(self) -> dict[str, int]:
        counts = Counter(self.splits)
        return {s: counts.get(s, 0) for s in SPLITS}

    def label_matrix(self) -> np.ndarray:
        """Multi-label targets (n x classes, float32 0/1) or multi-class targets (n, int64)."""
        index = {c: j for j, c in enumerate(self.classes)}
        labels = self.columns["labels"]
        if self.kind == MULTICLASS:
            return np.array([index[ls[0]] for ls in labels], dtype=np.int64)
        y = np.zeros((len(labels), len(self.classes)), dtype=np.float32)
        for i, ls in enumerate(labels):
            for c in ls:
                y[i, index[c]] = 1.0
        return y


# --------------------------------------------------------------------------- reading


def read_manifest(path: str | os.PathLike[str]) -> pa.Table:
    """The manifest as an Arrow table (every CSV/TSV column read as text, so ids keep leading zeros)."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError("probe dataset manifest", path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.is_file() else ""
    try:
        if path.is_dir() or path.suffix.lower() == ".parquet":
            if not table_files(path):
                raise InputError(path, "folder holds no Parquet files")
            return read_table(path)
        if path.suffix.lower() in (".csv", ".tsv", ".txt"):
            return _read_delimited(path, "\t" if path.suffix.lower() == ".tsv" else ",")
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            from pyarrow import json as pa_json

            return pa_json.read_json(path)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the manifest: {str(exc).splitlines()[0]}") from exc
    raise InputError(path, f"unknown manifest format {suffix or path.suffix!r}; use .csv, .tsv, .jsonl or .parquet")


def _read_delimited(path: Path, delimiter: str) -> pa.Table:
    from pyarrow import csv as pa_csv

    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh, delimiter=delimiter), None)
    if not header:
        raise InputError(path, "empty manifest (no header line)")
    return pa_csv.read_csv(
        path,
        parse_options=pa_csv.ParseOptions(delimiter=delimiter),
        convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in header},
                                              strings_can_be_null=True),
    )


def detect_kind(schema: pa.Schema, options: DatasetOptions) -> tuple[str, str | None]:
    """(kind, label column) of a manifest from its columns and the options.

    ``auto``: columns anchor/positive/negative -> triplets; otherwise the label column (``labels``,
    ``tags``, ``label`` or ``--label-column``) decides: a list column, or one named ``labels``/``tags``,
    is multi-label; a single-valued column is multi-class.
    """
    names = set(schema.names)
    if options.kind == TRIPLETS or (options.kind == "auto" and set(TRIPLET_COLUMNS) <= names):
        return TRIPLETS, None
    label_column = options.label_column or next((c for c in ("labels", "tags", "label") if c in names), None)
    if options.kind != "auto":
        return options.kind, label_column or ("label" if options.kind == MULTICLASS else "labels")
    if label_column is None or label_column not in names:
        return MULTILABEL, label_column or "labels"  # reported as a missing label column
    column_type = schema.field(label_column).type
    if pa.types.is_list(column_type) or pa.types.is_large_list(column_type) or label_column in ("labels", "tags"):
        return MULTILABEL, label_column
    return MULTICLASS, label_column


def load_dataset(
    path: str | os.PathLike[str],
    options: DatasetOptions,
    bad: BadRecords,
    *,
    workspace: Workspace | None = None,
) -> ProbeDataset:
    """Read and validate a manifest; malformed records go to ``bad``."""
    path = Path(path)
    table = read_manifest(path)
    kind, label_column = detect_kind(table.schema, options)
    if kind == TRIPLETS:
        return _load_triplets(path, table, bad)
    return _load_labelled(path, table, kind, label_column or "labels", options, bad, workspace)


def _column(table: pa.Table, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def _split_values(table: pa.Table) -> list[Any] | None:
    return _column(table, "split") if "split" in table.column_names else None


def _check_split(value: Any, bad: BadRecords, record: Any, line: int) -> tuple[bool, str | None]:
    """(ok, normalised split) of a fixed split value."""
    name = SPLIT_ALIASES.get(str(value).strip().lower()) if value is not None else None
    if name is None:
        bad.reject(f"split {value!r} is not one of train, validation, test", record=record, line=line,
                   kind="bad split")
        return False, None
    return True, name


def _load_labelled(path: Path, table: pa.Table, kind: str, label_column: str, options: DatasetOptions,
                   bad: BadRecords, workspace: Workspace | None) -> ProbeDataset:
    names = table.column_names
    if label_column not in names:
        raise InputError(path, f"no label column {label_column!r} (columns: {', '.join(names)}); "
                         "name it with --label-column")
    if "track_id" in names:
        track_ids = [None if v is None else str(v).strip() for v in _column(table, "track_id")]
    else:
        path_column = next((c for c in PATH_COLUMNS if c in names), None)
        if path_column is None:
            raise InputError(path, f"no track_id or audio path column ({', '.join(PATH_COLUMNS)}); "
                             f"columns: {', '.join(names)}")
        track_ids = map_paths_to_track_ids(_column(table, path_column), path, workspace)
    raw_labels = table.column(label_column)
    labels = _normalise_labels(raw_labels, kind, options.separator)
    split_values = _split_values(table)

    keep_ids: list[str] = []
    keep_labels: list[list[str]] = []
    keep_splits: list[str | None] = []
    keep_lines: list[int] = []
    seen: dict[str, int] = {}
    for i, (track_id, track_labels) in enumerate(zip(track_ids, labels)):
        line = i + 1
        if not track_id:
            bad.reject("no track id (or the audio path is not in tables/collection/tracks)", line=line,
                       kind="no track id")
            continue
        if track_id in seen:
            bad.reject(f"track listed twice (first on line {seen[track_id]})", record=track_id, line=line,
                       kind="duplicate track")
            continue
        if track_labels is None and kind == MULTILABEL and options.allow_empty_labels:
            track_labels = []  # an empty field (CSV) or null (JSON): an untagged clip, as in MagnaTagATune
        if track_labels is None or (not track_labels and not (kind == MULTILABEL and options.allow_empty_labels)):
            bad.reject(f"labels missing (column {label_column!r} is empty)", record=track_id, line=line,
                       kind="labels missing")
            continue
        if kind == MULTICLASS and len(track_labels) != 1:
            bad.reject(f"a multi-class track needs exactly one label, got {track_labels}", record=track_id,
                       line=line, kind="not one label")
            continue
        split = None
        if split_values is not None:
            ok, split = _check_split(split_values[i], bad, track_id, line)
            if not ok:
                continue
        seen[track_id] = line
        keep_ids.append(track_id)
        keep_labels.append(track_labels)
        keep_splits.append(split)
        keep_lines.append(line)
    _conform("probe/labels", {"track_id": keep_ids, "labels": keep_labels, "split": keep_splits, "line": keep_lines})
    return ProbeDataset(kind=kind, path=path, columns={"track_id": keep_ids, "labels": keep_labels},
                        splits=keep_splits, lines=keep_lines, records_read=table.num_rows,
                        fixed_split=split_values is not None)


def _normalise_labels(column: pa.ChunkedArray, kind: str, separator: str) -> list[list[str] | None]:
    """Each record's labels as a list of distinct stripped strings (None when missing)."""
    values = column.to_pylist()
    is_list = pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
    out: list[list[str] | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if is_list:
            items = [str(x).strip() for x in v if x is not None]
        elif kind == MULTILABEL and separator:
            items = [s.strip() for s in str(v).split(separator)]
        else:
            items = [str(v).strip()]
        items = [s for s in dict.fromkeys(items) if s]
        out.append(items)
    return out


def _load_triplets(path: Path, table: pa.Table, bad: BadRecords) -> ProbeDataset:
    names = table.column_names
    missing = [c for c in TRIPLET_COLUMNS if c not in names]
    if missing:
        raise InputError(path, f"a triplet manifest needs columns anchor, positive, negative; missing {missing}")
    cols = {c: [None if v is None else str(v).strip() for v in _column(table, c)] for c in TRIPLET_COLUMNS}
    split_values = _split_values(table)
    kept: dict[str, list[Any]] = {c: [] for c in TRIPLET_COLUMNS}
    splits: list[str | None] = []
    lines: list[int] = []
    for i in range(table.num_rows):
        line = i + 1
        triplet = [cols[c][i] for c in TRIPLET_COLUMNS]
        record = "/".join(t or "?" for t in triplet)
        if not all(triplet):
            empty = [c for c, t in zip(TRIPLET_COLUMNS, triplet) if not t]
            bad.reject(f"triplet without {', '.join(empty)}", record=record, line=line, kind="incomplete triplet")
            continue
        if triplet[1] == triplet[2]:
            bad.reject("positive and negative are the same track", record=record, line=line, kind="degenerate triplet")
            continue
        split = None
        if split_values is not None:
            ok, split = _check_split(split_values[i], bad, record, line)
            if not ok:
                continue
        for c, t in zip(TRIPLET_COLUMNS, triplet):
            kept[c].append(t)
        splits.append(split)
        lines.append(line)
    _conform("probe/triplets", {**kept, "split": splits, "line": lines})
    return ProbeDataset(kind=TRIPLETS, path=path, columns=kept, splits=splits, lines=lines,
                        records_read=table.num_rows, fixed_split=split_values is not None)


def _conform(table: str, columns: dict[str, list[Any]]) -> None:
    """Check the normalised records against their declared schema (a bug guard, not user input)."""
    schema = load_schema(table)
    conform(pa.Table.from_pydict(columns, schema=schema), schema, table=table)


def map_paths_to_track_ids(paths: Iterable[Any], manifest: Path, workspace: Workspace | None) -> list[str | None]:
    """Track ids of audio paths, looked up in tables/collection/tracks (exact path, else the absolute
    path, relative paths taken from the manifest's folder). Unknown paths map to None."""
    if workspace is None:
        raise InputError(manifest, "the manifest gives audio paths, not track ids; a workspace with "
                         "tables/collection/tracks is needed to map them")
    table = workspace.require_table("collection/tracks", "discogs-tools ingest collection")
    wanted = [None if p is None else str(p) for p in paths]

    def absolute(p: str, base: Path) -> str:
        return os.path.normpath(p if os.path.isabs(p) else os.path.join(base, p))

    keys = {p for p in wanted if p} | {absolute(p, manifest.parent) for p in wanted if p}
    found: dict[str, str] = {}
    for batch in iter_batches(table, columns=["track_id", "path"]):
        for track_id, p in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            if p is None:
                continue
            for key in (p, absolute(p, workspace.root)):
                if key in keys:
                    found.setdefault(key, track_id)
    return [None if p is None else found.get(p) or found.get(absolute(p, manifest.parent)) for p in wanted]


# --------------------------------------------------------------------------- splits and classes


def unit_hash(seed: int, key: str) -> float:
    """A uniform number in [0, 1) from a seed and a key (stable across runs and platforms)."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assign_splits(dataset: ProbeDataset, options: DatasetOptions, seed: int) -> ProbeDataset:
    """Draw splits where none are fixed, carve validation from train where fixed splits lack it,
    and check every split holds records."""
    splits = list(dataset.splits)
    keys = [dataset.record_id(i) for i in range(len(dataset))]
    if not dataset.fixed_split:
        train_share, validation_share, _ = options.fractions
        for i, key in enumerate(keys):
            u = unit_hash(seed, key)
            splits[i] = "train" if u < train_share else "validation" if u < train_share + validation_share else "test"
        dataset.notes["split"] = f"drawn (seed {seed}, fractions {list(options.fractions)})"
    else:
        dataset.notes["split"] = "fixed in the manifest"
        if "validation" not in splits:
            for i, key in enumerate(keys):
                if splits[i] == "train" and unit_hash(seed, "validation\x1f" + key) < options.validation_fraction:
                    splits[i] = "validation"
            dataset.notes["split"] += f"; validation carved from train (seed {seed}, {options.validation_fraction})"
    out = replace(dataset, splits=splits)
    sizes = out.split_sizes()
    if dataset.kind == TRIPLETS and dataset.fixed_split and sizes["test"] and sizes["test"] == len(dataset):
        # Every triplet is test (dim-sim as prepared): the similarity of the frozen embeddings is
        # evaluated without training (seed 004 sec. 5.3.6); see evaluate_frozen_triplets.
        out.notes = {**dataset.notes, "frozen_only": True,
                     "split": "fixed in the manifest; every triplet is test: frozen evaluation only, no projection trained"}
        return out
    empty = [s for s in SPLITS if sizes[s] == 0]
    if empty:
        raise InputError(dataset.path, f"split(s) {', '.join(empty)} hold no usable record "
                         f"(sizes {sizes}); give more records or a split column")
    return out


def fix_vocabulary(dataset: ProbeDataset, bad: BadRecords) -> ProbeDataset:
    """Set the classes to those seen in train; handle classes seen only in validation/test.

    Multi-class: a validation/test record of an unknown class is a bad record. Multi-label: an
    unknown label is a bad record by default; with rejects (``--skip-invalid``) the label is
    removed from the record instead (the record stays, counted in ``notes['unknown_labels']``).
    """
    if dataset.kind == TRIPLETS:
        return dataset
    train_classes = sorted({c for ls, s in zip(dataset.columns["labels"], dataset.splits) if s == "train" for c in ls})
    known = set(train_classes)
    unknown: Counter[str] = Counter()
    mask = []
    new_labels = []
    for i, (ls, split) in enumerate(zip(dataset.columns["labels"], dataset.splits)):
        outside = [c for c in ls if c not in known]
        if outside:
            unknown.update(outside)
            reason = f"class(es) {outside} of the {split} split never occur in the train split"
            if dataset.kind == MULTICLASS:
                bad.reject(reason, record=dataset.record_id(i), line=dataset.lines[i], kind="unknown class")
                mask.append(False)
                new_labels.append(ls)
                continue
            if bad.rejects is None:
                bad.reject(reason, record=dataset.record_id(i), line=dataset.lines[i], kind="unknown class")
            ls = [c for c in ls if c in known]
        mask.append(True)
        new_labels.append(ls)
    out = replace(dataset, columns={**dataset.columns, "labels": new_labels}, classes=train_classes)
    if unknown:
        out.notes["unknown_classes"] = dict(sorted(unknown.items()))
    out = out.keep(mask)
    if len(out.classes) < 2:
        raise InputError(dataset.path, f"the train split holds {len(out.classes)} class(es); a probe needs at least 2")
    return out


def reject_records(dataset: ProbeDataset, bad: BadRecords, is_bad: Callable[[int], str | None],
                   kind: str) -> ProbeDataset:
    """Drop the records for which ``is_bad(i)`` returns a reason (each goes to ``bad``)."""
    mask = []
    for i in range(len(dataset)):
        reason = is_bad(i)
        if reason:
            bad.reject(reason, record=dataset.record_id(i), line=dataset.lines[i], kind=kind)
        mask.append(not reason)
    return dataset.keep(mask)


# --------------------------------------------------------------------------- frozen triplets


def evaluate_frozen_triplets(dataset: ProbeDataset, embeddings: Any,
                             seeds: Sequence[int]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Triplet accuracy and distance gap of the frozen embeddings on the test triplets (cosine
    distance), with no projection trained: how dim-sim is evaluated when every triplet is test
    (``notes['frozen_only']``, seed 004 sec. 5.3.6). Returns ``(per_seed, extra)`` in the shape of
    the trained evaluation: one identical row per seed (nothing is random), ``triplet_accuracy`` and
    ``distance_gap`` equal to their frozen values, ``extra['projection']`` None."""
    from .metrics import triplet_scores

    ids = dataset.track_ids
    x = embeddings.rows(ids)
    index = {t: i for i, t in enumerate(ids)}
    test = dataset.split_indices("test")
    triplets = np.array([[index[dataset.columns[c][i]] for c in TRIPLET_COLUMNS] for i in test],
                        dtype=np.int64).reshape(-1, 3)
    frozen = triplet_scores(x[triplets[:, 0]], x[triplets[:, 1]], x[triplets[:, 2]])
    per_seed = [{"seed": s, "best_epoch": None, "validation_score": None,
                 "triplet_accuracy": frozen["triplet_accuracy"], "distance_gap": frozen["distance_gap"],
                 "frozen_triplet_accuracy": frozen["triplet_accuracy"],
                 "frozen_distance_gap": frozen["distance_gap"]} for s in seeds]
    return per_seed, {"per_class": {}, "excluded_classes": {}, "frozen": frozen, "projection": None}
