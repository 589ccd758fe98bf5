"""Nearest-neighbour search over a run's track embeddings (seed 004 sec. 8.2.1, cosine.club).

One module per job:

- :mod:`.source`   where a run's collection embeddings are and which version they are
- :mod:`.index`    the approximate-nearest-neighbour index (usearch HNSW, cosine), built, stored
                   with the run and rebuilt when the embeddings change
- :mod:`.resolve`  a query (track id, ``artist - title`` text, audio file) to a vector
- :mod:`.audio`    an audio file embedded on the fly with the run's model
- :mod:`.metadata` artist, title, release, year, styles, label of tracks, from the warehouse
- :mod:`.filters`  style, year range, label and same-artist filters on that metadata
- :mod:`.search`   the k neighbours of a query that pass the filters
- :mod:`.render`   neighbours as text, JSON or CSV
- :mod:`.roots`    the collection's folders, the only place audio may be served from
- :mod:`.map`      a seeded 2-D map of the embeddings
- :mod:`.server`   the local web page (``discogs-tools serve``)
- :mod:`.quality`  retrieval precision@k of an embedding per association
"""
