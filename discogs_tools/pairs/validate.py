"""Re-check every written pair against its association's rule (``validate-pairs``).

Deliberately independent of the generators: plain per-pair Python set logic over the
dataset's tracks table and the playlist tables. Pairs made from another build of the dataset (or
recording none) are refused before any check (:mod:`.provenance`). Checks, per epoch: both
tracks belong to the split (for the playlist associations, as :func:`.playlists.playlist_index` extends
it), the split / association / epoch columns are right, no track is used twice (artist-co allows
it), the rule
holds (DESIGN section 4), and the shared-entity columns equal the true intersections.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


from ..report import Report
from ..workspace import Workspace
from . import registry
from .index import load_split
from .output import read_pairs
from .playlists import load_cooccurrence, load_playlists, word2vec_tracks

MAX_EXAMPLES = 20


def _entity_sets(index, t: int) -> dict[str, set[int]]:
    return {kind: set(index.entities[kind].row_ids(t).tolist()) for kind in index.entities}


def validate_pairs(ws: Workspace, dataset: str, association: str, split: str = "train", epoch: int | None = None,
                   *, word2vec: str | Path | None = None) -> Report:
    """A report whose ``counts["violations"]`` is zero when every pair is valid."""
    module = registry.get(association)
    table = read_pairs(ws, dataset, association, split, epoch)  # refuses pairs of another dataset build
    index = getattr(module, "load_index", load_split)(ws, dataset, split)  # playlists: with outside tracks
    repeats = association in registry.REPEATS_TRACKS
    position = index.position_of()
    violations: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []

    def bad(kind: str, row: int, **info: Any) -> None:
        violations[kind] += 1
        if len(examples) < MAX_EXAMPLES:
            examples.append({"violation": kind, "row": row, **info})

    members: dict[str, set[int]] | None = None
    neighbours = None
    with_vector: set[int] | None = None
    if association in ("playlist-co", "playlist-ico"):
        pl = load_playlists(ws, index)
        ids = pl.playlist_ids.to_pylist()
        members = {ids[i]: set(pl.tracks[pl.ptr[i]:pl.ptr[i + 1]].tolist()) for i in range(pl.n_playlists)}
    elif association == "playlist-tco":
        ptr, nb = load_cooccurrence(ws, index)
        neighbours = (ptr, nb)
    elif association == "playlist-w2v":
        path = Path(word2vec) if word2vec else ws.dataset(dataset) / "word2vec" / "vectors.parquet"
        with_vector = set(word2vec_tracks(ws, index, path).tolist())

    columns = table.to_pydict()
    used_per_epoch: dict[int, Counter[int]] = {}
    for row in range(table.num_rows):
        a_id, p_id, ep = columns["anchor"][row], columns["positive"][row], columns["epoch"][row]
        if columns["split"][row] != split:
            bad("wrong_split_column", row, value=columns["split"][row])
        if columns["association"][row] != association:
            bad("wrong_association_column", row, value=columns["association"][row])
        if epoch is not None and ep != epoch:
            bad("wrong_epoch_column", row, value=ep)
        a, p = position.get(a_id), position.get(p_id)
        if a is None or p is None:
            bad("track_not_in_split", row, anchor=a_id, positive=p_id)
            continue
        used = used_per_epoch.setdefault(ep, Counter())
        for t in {a, p}:
            used[t] += 1
            if used[t] == 2 and not repeats:
                bad("track_used_twice", row, track=index.track_ids[t].as_py(), epoch=ep)
        sa, sp = _entity_sets(index, a), _entity_sets(index, p)
        shared = {kind: sa[kind] & sp[kind] for kind in sa}
        ok = True
        if association in ("track", "playlist-w2v"):
            ok = a == p and (with_vector is None or a in with_vector)
        elif a == p:
            ok = False
        elif association == "release":
            ok = bool(shared["releases"])
        elif association == "artist":
            ok = bool(shared["artists"]) and not shared["releases"]
        elif association == "label":
            ok = bool(shared["labels"]) and not shared["artists"]
        elif association == "artist-co":
            recorded = columns["shared_artists"][row] or []
            ok = len(recorded) == 1 and recorded[0] in shared["artists"]
        elif members is not None:
            playlists = columns["shared_playlists"][row] or []
            ok = len(playlists) == 1 and playlists[0] in members and {a, p} <= members[playlists[0]]
        elif neighbours is not None:
            ptr, nb = neighbours
            ok = p in set(nb[ptr[a]:ptr[a + 1]].tolist())
        if not ok:
            bad("rule", row, anchor=a_id, positive=p_id)
        if association in ("release", "artist", "label"):
            for kind, column in (("releases", "shared_releases"), ("artists", "shared_artists"),
                                 ("labels", "shared_labels")):
                if sorted(shared[kind]) != (columns[column][row] or []):
                    bad(f"{column}_mismatch", row, expected=sorted(shared[kind]), found=columns[column][row])
    report = Report(stage=f"validate-pairs {association}")
    report.counts["pairs"] = table.num_rows
    report.counts["epochs"] = len(used_per_epoch)
    report.counts["violations"] = int(sum(violations.values()))
    for kind, n in sorted(violations.items()):
        report.counts[f"violations_{kind}"] = int(n)
    report.details.extend(examples)
    if violations:
        report.warnings.append(f"{sum(violations.values())} invalid pair(s); first: {examples[0]}")
    return report


