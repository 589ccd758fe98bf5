"""``build-dataset``: the Discogs20 recipe over the workspace's tables.

Reads links/track_releases, discogs/releases and (when present) collection/tracks; writes
``datasets/<name>/labels``, ``splits``, ``tracks`` (Parquet table folders, each atomic, in that
order) and ``report.json``, and records the run in the manifest. Every output records the run's
dataset version (:mod:`.version`): pairs made from an earlier build are then known to be stale;
and the versions of the tables read (``input_versions``): once one is replaced (``match`` run
again, say), readers refuse the dataset until it is rebuilt.
A run holds the output lock of ``build-dataset <name>``; a run that finds no usable input (no
links, no linked release, too few tracks, an empty split) fails and keeps the previous dataset.
Steps:

1. :mod:`.entities` pools releases, masters, artists, labels and genres per track;
2. tracks shorter than ``min_duration`` are dropped (unknown durations are kept and counted);
3. :mod:`.styles` labels tracks with master-level styles (top-N, at most ``max_styles``);
4. :mod:`.splits` groups artists and stratifies groups into train / validation / test;
5. :mod:`.report` measures the result (sizes, style table, artist overlap, cardinality).

Counts add up: linked tracks = kept + dropped (unknown release only, too short, no kept style).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
import pyarrow as pa

from .. import manifest
from ..errors import DiscogsToolsError
from ..io import TableWriter, parquet_glob, write_json_atomic
from ..locks import output_lock
from ..progress import Progress
from ..report import Report
from ..workspace import Workspace
from . import report as figures
from .duck import DEFAULT_MEMORY_LIMIT, connect, sql_str
from .entities import build_track_entities
from .hf import write_card
from .splits import SPLITS, artist_groups, group_style_counts, resolve_size, stratify
from .styles import build_track_styles
from .version import INPUTS_KEY, VERSION_KEY, input_versions, new_version

DEFAULT_NAME = "discogs20"
#: The workspace tables a build reads (collection/tracks when present).
INPUT_TABLES: tuple[str, ...] = ("links/track_releases", "discogs/releases", "collection/tracks")
BATCH_ROWS = 100_000
#: The steps the progress bar walks through (see the module docstring; "outputs" writes the tables).
STEPS: tuple[str, ...] = ("entities", "styles", "splits", "figures", "outputs")


def run(ws: Workspace | str | os.PathLike[str], name: str = DEFAULT_NAME, *, top_styles: int = 400, max_styles: int = 5,
        min_duration: float = 20.0, validation: float = 0.1, test: float = 0.1, min_releases: int = 50,
        seed: int = 0, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> Report:
    """Build dataset ``name`` in ``ws`` (a Workspace or its path); see the module docstring.
    Deterministic given ``seed``."""
    ws = Workspace.of(ws)
    links = ws.require_table("links/track_releases", "discogs-tools match --against discogs")
    releases = ws.require_table("discogs/releases", "discogs-tools ingest discogs")
    collection = ws.table("collection/tracks") if ws.has_table("collection/tracks") else None
    params = {"name": name, "top_styles": top_styles, "max_styles": max_styles, "min_duration": min_duration,
              "validation": validation, "test": test, "min_releases": min_releases, "seed": seed}
    out_dir = ws.dataset(name)
    scratch = ws.datasets / f".{name}.scratch"
    report = Report(stage="build-dataset")
    version = new_version()
    with output_lock(ws.root, "build-dataset", name), manifest.Timer() as timer, \
            Progress(f"build-dataset {name}", total=len(STEPS), unit="steps") as bar:
        # The versions of the tables read, taken before reading them: a table replaced meanwhile
        # (or later) makes the dataset stale to every reader (see .version).
        inputs = input_versions(ws, INPUT_TABLES)
        shutil.rmtree(scratch, ignore_errors=True)
        con = connect(scratch, memory_limit)
        try:
            _build(con, ws, report, params, links=parquet_glob(links), releases=parquet_glob(releases),
                   collection=parquet_glob(collection) if collection else None, out_dir=out_dir,
                   version=version, inputs=inputs, paths={"links": links, "releases": releases}, bar=bar)
        finally:
            con.close()
            shutil.rmtree(scratch, ignore_errors=True)
    report.figures["seconds"] = round(timer.seconds, 3)
    manifest.record(ws.manifest_path, f"build-dataset {name}", {
        **report.to_dict(), "params": params, VERSION_KEY: version, INPUTS_KEY: inputs,
        "inputs": {"links/track_releases": str(links), "discogs/releases": str(releases),
                   "collection/tracks": str(collection) if collection else None}})
    return report


def _check_linked(con, counts: dict[str, Any], paths: dict[str, Any]) -> None:
    """Fail (keeping the previous dataset) when no collection track is linked to a known release."""
    if counts["links"] == 0:
        raise DiscogsToolsError(
            f"build-dataset: links/track_releases ({paths['links']}) holds 0 links from collection tracks to "
            f"releases: run `discogs-tools match --against discogs` (after `discogs-tools ingest collection`)")
    if counts["linked_tracks"] == counts["tracks_unknown_release_only"]:
        n_releases = con.execute(f"SELECT count(*) FROM read_parquet({sql_str(parquet_glob(paths['releases']))})"
                                 ).fetchone()[0]
        if n_releases == 0:
            raise DiscogsToolsError(f"build-dataset: discogs/releases ({paths['releases']}) holds 0 releases: "
                                    f"run `discogs-tools ingest discogs` with a releases dump")
        raise DiscogsToolsError(
            f"build-dataset: none of the {counts['links']:,} links in links/track_releases points to a release "
            f"in discogs/releases ({n_releases:,} releases at {paths['releases']}): the links were made against "
            f"another dump; run `discogs-tools match --against discogs` again")


def _build(con, ws: Workspace, report: Report, params: dict[str, Any], *, links: str, releases: str,
           collection: str | None, out_dir, version: str, inputs: dict[str, Any], paths: dict[str, Any],
           bar: Progress | None = None) -> None:
    bar = bar or Progress("build-dataset", enabled=False)
    counts = report.counts
    bar.update(step=STEPS[0])
    counts.update(build_track_entities(con, links=links, releases=releases, collection=collection))
    _check_linked(con, counts, paths)

    min_duration = float(params["min_duration"])
    con.execute(f"""CREATE OR REPLACE TABLE candidates AS SELECT * FROM track_entities
                    WHERE duration_s IS NULL OR duration_s >= {min_duration}""")
    n_entities = con.execute("SELECT count(*) FROM track_entities").fetchone()[0]
    n_candidates, n_unknown = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE duration_s IS NULL) FROM candidates").fetchone()
    counts["dropped_too_short"] = int(n_entities - n_candidates)
    counts["duration_unknown_kept"] = int(n_unknown)
    con.execute("""CREATE OR REPLACE TABLE candidate_release AS
                   SELECT DISTINCT track_id, release_id, master_id FROM track_release SEMI JOIN candidates USING (track_id)""")

    bar.update(advance=1, step=STEPS[1])
    counts.update(build_track_styles(con, releases=releases, top_n=int(params["top_styles"]),
                                     max_styles=int(params["max_styles"])))
    con.execute("""CREATE OR REPLACE TABLE dataset_tracks AS
                   SELECT (row_number() OVER (ORDER BY track_id) - 1)::BIGINT AS idx, c.*, s.styles
                   FROM candidates c JOIN track_styles s USING (track_id)""")
    n_tracks = int(con.execute("SELECT count(*) FROM dataset_tracks").fetchone()[0])
    counts["dropped_no_kept_style"] = int(n_candidates - n_tracks)
    counts["tracks"] = n_tracks
    if n_tracks < 3:
        raise DiscogsToolsError(
            f"build-dataset: only {n_tracks} track(s) left of {counts['linked_tracks']:,} linked tracks "
            f"({counts['dropped_too_short']:,} shorter than --min-duration {min_duration:g} s, "
            f"{counts['dropped_no_kept_style']:,} without a kept style); need at least 3 to make three splits: "
            f"lower --min-duration, raise --top-styles / --max-styles, or link more tracks "
            f"(`discogs-tools match --against discogs`)")

    # Artist groups and stratification (numpy).
    bar.update(advance=1, step=STEPS[2])
    edges = con.execute("SELECT idx, unnest(artists) AS a FROM dataset_tracks").fetchnumpy()
    group_of_track = artist_groups(n_tracks, edges["idx"], edges["a"])
    group_tracks = np.bincount(group_of_track)
    con.execute("""
        CREATE OR REPLACE TABLE track_release_style AS
        SELECT d.idx, cr.track_id, cr.release_id, ks.style
        FROM candidate_release cr JOIN dataset_tracks d USING (track_id) JOIN release_group USING (release_id)
        JOIN (SELECT grp, unnest(kept) AS style FROM group_kept WHERE keep) ks USING (grp)
    """)
    rows = con.execute("""SELECT t.idx, t.release_id, v."index" AS s
                          FROM track_release_style t JOIN style_vocab v USING (style)""").fetchnumpy()
    n_styles = int(counts["styles_kept"])
    g_idx, s_idx, g_cnt = group_style_counts(group_of_track, rows["idx"], rows["release_id"], rows["s"], n_styles)
    n_val = resolve_size(float(params["validation"]), n_tracks, "validation")
    n_test = resolve_size(float(params["test"]), n_tracks, "test")
    if n_val + n_test >= n_tracks:
        raise DiscogsToolsError(f"build-dataset: validation ({n_val}) + test ({n_test}) tracks leave no "
                                f"training tracks out of {n_tracks}")
    result = stratify(group_tracks, g_idx, s_idx, g_cnt, n_styles, validation=n_val, test=n_test,
                      min_releases=int(params["min_releases"]), seed=int(params["seed"]))
    split_of_track = result.group_split[group_of_track]
    _check_splits_filled(split_of_track, {"validation": n_val, "test": n_test}, int(group_tracks.min()),
                         int(group_tracks.max()))
    split_names = np.array(SPLITS, dtype=object)[split_of_track]
    assignment = pa.table({"idx": pa.array(np.arange(n_tracks, dtype=np.int64)),
                           "split": pa.array(split_names, pa.string()),
                           "artist_group": pa.array(group_of_track.astype(np.int64)),
                           "group_tracks": pa.array(group_tracks[group_of_track].astype(np.int64))})
    con.register("assignment_view", assignment)
    con.execute("CREATE OR REPLACE TABLE assignment AS SELECT * FROM assignment_view")
    con.unregister("assignment_view")
    con.execute("""CREATE OR REPLACE TABLE final_tracks AS
                   SELECT d.track_id, d.releases, d.masters, d.artists, d.extra_artists, d.labels, d.genres,
                          d.styles, d.duration_s, a.split
                   FROM dataset_tracks d JOIN assignment a USING (idx)""")
    con.execute("""CREATE OR REPLACE TABLE track_release_style AS
                   SELECT t.*, a.split FROM track_release_style t JOIN assignment a USING (idx)""")
    counts["artist_groups"] = int(group_tracks.size)
    report.figures["largest_artist_group_tracks"] = int(group_tracks.max())

    # Figures.
    bar.update(advance=1, step=STEPS[3])
    sizes = figures.split_sizes(con)
    overlap = figures.artist_overlap(con)
    if overlap:
        raise DiscogsToolsError(f"build-dataset: internal error, {overlap} artists fall in two splits")
    styles = figures.style_table(con, int(params["min_releases"]))
    cardinality = figures.label_cardinality(con)
    short = [row["style"] for row in styles if not row["meets_minimum"]]
    for split in SPLITS:
        for key, value in sizes[split].items():
            counts[f"{split}_{key}"] = int(value)
    counts["artist_overlap"] = overlap
    counts["styles_below_minimum"] = len(short)
    report.figures["label_cardinality_mean"] = cardinality["mean"]
    report.figures["label_cardinality_max"] = cardinality["max"]
    if short:
        shown = ", ".join(short[:10]) + (f" and {len(short) - 10} more" if len(short) > 10 else "")
        report.warnings.append(f"{len(short)} style(s) have fewer than {params['min_releases']} releases in "
                               f"validation or test: {shown} (see report.json)")

    # Outputs (each table atomic, every one stamped with this build's version; tracks last:
    # its commit is the dataset's, see .version).
    bar.update(advance=1, step=STEPS[4])
    stamp = {VERSION_KEY: version, "dataset": params["name"], INPUTS_KEY: inputs}
    with TableWriter(out_dir / "labels", "datasets/labels") as writer:
        writer.info.update(stamp)
        writer.write(styles)
    _write_query(con, out_dir / "splits", "datasets/splits", """
        SELECT d.track_id, a.split, a.artist_group, a.group_tracks
        FROM dataset_tracks d JOIN assignment a USING (idx) ORDER BY d.track_id""", stamp)
    _write_query(con, out_dir / "tracks", "datasets/tracks", """
        SELECT track_id, releases, masters, artists, extra_artists, labels, genres, styles, duration_s, split
        FROM final_tracks ORDER BY track_id""", stamp)
    summary = {VERSION_KEY: version, INPUTS_KEY: inputs, "params": params, "counts": dict(counts), "splits": sizes,
               "artist_overlap": overlap, "label_cardinality": cardinality, "styles_below_minimum": short,
               "styles": styles}
    write_json_atomic(out_dir / "report.json", summary)
    write_card(ws, params["name"])  # Hugging Face datasets: one config per table and pair association
    report.details.append({"splits": sizes, "label_cardinality": cardinality})
    report.outputs.update({"tracks": str(out_dir / "tracks"), "labels": str(out_dir / "labels"),
                           "splits": str(out_dir / "splits"), "report": str(out_dir / "report.json"),
                           "card": str(out_dir / "README.md")})
    bar.update(advance=1)


def _check_splits_filled(split_of_track: np.ndarray, wanted: dict[str, int], smallest_group: int,
                         largest_group: int) -> None:
    """Fail when a split that was asked for (size > 0) got no track: every artist group is too large
    to fit in it, and pairs or evaluation on it would meet an empty input."""
    for split, n in wanted.items():
        if n > 0 and not np.any(split_of_track == SPLITS.index(split)):
            raise DiscogsToolsError(
                f"build-dataset: the {split} split is empty: it should hold {n} track(s), but no artist group fits "
                f"(artist groups have {smallest_group} to {largest_group} tracks, and an artist group is never "
                f"divided between splits); raise --{split} or build from a collection with more artists")


def _write_query(con, path, table: str, sql: str, info: dict[str, Any]) -> int:
    """Stream a query's result into a schema-validated table folder (bounded memory)."""
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    with TableWriter(path, table) as writer:
        writer.info.update(info)
        for batch in reader:
            writer.write(batch)
    return writer.rows
