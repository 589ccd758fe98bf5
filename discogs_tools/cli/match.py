"""`discogs-tools match` and `discogs-tools match-eval`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import (
    SeedOption,
    WorkspaceOption,
    app,
    handle_errors,
    print_report,
    workspace,
)

Threshold = Annotated[float, typer.Option(help="Links need at least this score (0-1).")]
MinTitle = Annotated[float, typer.Option(help="Discard candidates whose title similarity is below this.")]
MinArtist = Annotated[float, typer.Option(help="Discard candidates whose artist similarity is below this.")]
WTitle = Annotated[float, typer.Option(help="Weight of the title penalty.")]
WArtist = Annotated[float, typer.Option(help="Weight of the artist penalty.")]
WAlbum = Annotated[float, typer.Option(help="Weight of the album penalty (left out when an album is unknown).")]
WDuration = Annotated[float, typer.Option(help="Weight of the duration penalty (left out when a duration is unknown).")]
DurTol = Annotated[float, typer.Option(help="Duration differences up to this many seconds cost nothing.")]
DurMax = Annotated[float, typer.Option(help="Duration difference (s) that costs the full duration penalty.")]
MaxBlock = Annotated[int, typer.Option(help="Ignore blocking keys shared by more recordings than this.")]
MaxCand = Annotated[int, typer.Option(help="Recordings scored per track at most (those sharing most keys).")]
Expand = Annotated[bool, typer.Option(help="Also link other releases of a linked master carrying the same title.")]
Chunk = Annotated[int, typer.Option(help="Collection tracks matched per round (bounds memory).")]


def _config(**kw):  # noqa: ANN001, ANN202 - plain forwarding
    from ..match.scoring import MatchConfig

    return MatchConfig(**kw)


@app.command("match")
@handle_errors
def match_command(
    against: Annotated[str, typer.Option(help="discogs (-> links/track_releases) or playlists "
                                              "(-> links/track_playlist_tracks).")] = "discogs",
    threshold: Threshold = 0.85,
    min_title_sim: MinTitle = 0.75,
    min_artist_sim: MinArtist = 0.75,
    weight_title: WTitle = 3.0,
    weight_artist: WArtist = 3.0,
    weight_album: WAlbum = 0.5,
    weight_duration: WDuration = 2.0,
    duration_tolerance_s: DurTol = 5.0,
    duration_max_s: DurMax = 30.0,
    max_block_size: MaxBlock = 1000,
    max_candidates: MaxCand = 50,
    expand_masters: Expand = True,
    chunk_tracks: Chunk = 50_000,
    duration_tolerance_share: Annotated[float, typer.Option(help="For long tracks: tolerance as a share of the "
                                                                 "longer duration, when larger.")] = 0.02,
    duration_max_share: Annotated[float, typer.Option(help="For long tracks: full-penalty difference as a share of "
                                                           "the longer duration, when larger.")] = 0.1,
    text_fallback: Annotated[bool, typer.Option(help="Match tracks that link to nothing once more as one text "
                                                     "(artist + title + album): tags with the album or artist "
                                                     "in the wrong field.")] = True,
    overrides: Annotated[Optional[Path], typer.Option(help="CSV of forced / forbidden links (track_id, ref_id, "
                                                           "action force|forbid); kept in the workspace and "
                                                           "applied on every later run.")] = None,
    rebuild_index: Annotated[bool, typer.Option(help="Rebuild the reference index even if it is current.")] = False,
    workers: Annotated[Optional[int], typer.Option("--workers", "-j", show_default=False,
                                                   help="DuckDB threads (default: every core available to this "
                                                        "process).")] = None,
    memory_limit: Annotated[Optional[str], typer.Option(help="DuckDB memory limit, e.g. 4GB (default: 2GB; spills to disk beyond).")] = None,
    workspace_dir: WorkspaceOption = None,
) -> None:
    """Link collection tracks to every Discogs release carrying them, or to playlist tracks."""
    options = dict(locals())  # every option, named as the step's parameters (tests/test_pipeline_steps.py)
    from ..match.command import match

    report = match(workspace(options.pop("workspace_dir")), **options)
    for detail in report.details:
        if "summary" in detail:
            typer.echo(detail["summary"])
    print_report(report)


@app.command("match-eval")
@handle_errors
def match_eval_command(
    eval_set: Annotated[str, typer.Option("--set", help="synthetic: perturbed copies of reference tracks; "
                                                        "same-master: each master's first release matched "
                                                        "against its other releases, fields in place and "
                                                        "mixed up (real, independently entered tracklists); "
                                                        "musicbrainz-20k: the Leipzig MusicBrainz 20K "
                                                        "benchmark's sources 1-4 matched against its "
                                                        "source 5, fields in place and mixed up (--data); "
                                                        "pairs: a labelled record-pair set (tableA.csv, "
                                                        "tableB.csv, test.csv) through `match --against "
                                                        "playlists`, pairwise F1 (--data FOLDER).")
                        ] = "synthetic",
    data: Annotated[Optional[Path], typer.Option("--data", help="musicbrainz-20k: the benchmark's CSV "
                                                 "(musicbrainz-20-A01.csv.dapo; default: the bundled "
                                                 "60-record extract); pairs: the set's folder (default: "
                                                 "the bundled example).")] = None,
    pair_file: Annotated[str, typer.Option("--pairs", help="pairs: the labelled pair file in --data "
                                           "(ltable_id, rtable_id, label).")] = "test.csv",
    columns: Annotated[Optional[str], typer.Option("--columns", help="pairs: which column holds which field, "
                                                   "e.g. title=Song_Name,artist=Artist_Name (title, artist, "
                                                   "album, duration; default: found by name).")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="musicbrainz-20k: query at most this "
                                                 "many records (a seeded sample; default: all).")] = None,
    positives: Annotated[int, typer.Option(help="Tracks sampled from the reference and perturbed.")] = 1500,
    negatives: Annotated[int, typer.Option(help="Tracks that are not in the reference (held out or look-alikes); "
                                                "same-master: held-out tracks queried at most.")] = 500,
    holdout: Annotated[float, typer.Option(help="Share of releases held out of the reference (same-master: of the "
                                                "releases without a sibling).")] = 0.15,
    threshold: Threshold = 0.85,
    min_title_sim: MinTitle = 0.75,
    min_artist_sim: MinArtist = 0.75,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for eval.json and the "
                                                   "evaluation workspace (default: runs/match-eval-seed<N>).")] = None,
    seed: SeedOption = 0,
    workspace_dir: WorkspaceOption = None,
) -> None:
    """Precision / recall / F1 of `match --against discogs` on a labelled set derived from the
    workspace's discogs/releases (e.g. the bundled samples after `ingest discogs`): synthetic
    perturbations with a PR curve, or real sibling releases of one master (--set same-master); or
    a reference built from the MusicBrainz 20K benchmark file (--set musicbrainz-20k --data FILE);
    or, through `match --against playlists`, any labelled record-pair set in the entity-matching
    benchmarks' layout (--set pairs --data FOLDER)."""
    from ..errors import ConfigError
    from ..match import evaluate, musicbrainz20k, pairs, realworld

    config = _config(threshold=threshold, min_title_sim=min_title_sim, min_artist_sim=min_artist_sim)
    if eval_set == "same-master":
        report = realworld.run(workspace(workspace_dir), out_dir=output, seed=seed, holdout=holdout,
                               negatives=negatives, config=config)
    elif eval_set == "musicbrainz-20k":
        report = musicbrainz20k.run(workspace(workspace_dir), data, out_dir=output, seed=seed, limit=limit,
                                    config=config)
    elif eval_set == "pairs":
        report = pairs.run(workspace(workspace_dir), data, pair_file=pair_file, columns=columns, out_dir=output,
                           config=config)
    elif eval_set == "synthetic":
        report = evaluate.run(workspace(workspace_dir), out_dir=output, positives=positives, negatives=negatives,
                              holdout=holdout, seed=seed, config=config)
    else:
        raise ConfigError(f"--set must be synthetic, same-master, musicbrainz-20k or pairs, got {eval_set!r}")
    for detail in report.details:
        typer.echo(detail.get("summary", ""))
    print_report(report)
