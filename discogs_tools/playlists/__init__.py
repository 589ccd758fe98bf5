"""Playlist datasets: ingestion (MPD slices, CSV/TSV/JSONL), co-occurrence top-k and Word2Vec.

Data flow (docs/playlists.md):

    mpd.slice.*.json / *.csv / *.tsv / *.jsonl
        -- ingest.run -->  tables/playlists/{playlists, playlist_tracks, tracks}
        -- cooccurrence.run --> tables/playlists/cooccurrence   (top-k neighbours per track)
        -- word2vec.run --> datasets/<name>/word2vec/{vectors.kv, vectors.parquet, params.json}

Readers (``mpd``, ``tabular``) turn one input into :class:`~.chunk.Chunk` objects; the ingest
stage (``ingest``) writes chunks into the tables, deduplicating playlist ids and track keys
across the whole input and gathering statistics (``stats``).
"""
