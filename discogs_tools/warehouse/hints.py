"""Which command produces a warehouse table or view, for "run X first" messages."""

from __future__ import annotations

#: View-name prefix -> the command that writes the underlying table.
PRODUCERS: tuple[tuple[str, str], ...] = (
    ("discogs_", "discogs-tools ingest discogs DUMP_PATH"),
    ("release_", "discogs-tools ingest discogs DUMP_PATH"),
    ("master_", "discogs-tools ingest discogs DUMP_PATH"),
    ("artist_", "discogs-tools ingest discogs DUMP_PATH"),
    ("label_", "discogs-tools ingest discogs DUMP_PATH"),
    ("playlists_", "discogs-tools ingest playlists PATH"),
    ("collection_", "discogs-tools ingest collection PATH"),
    ("links_", "discogs-tools match"),
    ("features_", "discogs-tools features"),
)


def producer_of(name: str) -> str | None:
    """The command to run so that table/view ``name`` exists, or None when unknown."""
    name = name.lower()
    if name.startswith("dataset_"):
        if "_pairs" in name:
            return "discogs-tools make-pairs"
        if "_word2vec" in name:
            return "discogs-tools word2vec"
        return "discogs-tools build-dataset"
    for prefix, command in PRODUCERS:
        if name.startswith(prefix):
            return command
    return None
