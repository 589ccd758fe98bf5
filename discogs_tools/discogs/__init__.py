"""Discogs XML dump ingestion: ``discogs-tools ingest discogs``.

The monthly dumps (artists, labels, masters, releases; ``.xml.gz`` or plain ``.xml``) become
lossless Parquet tables ``tables/discogs/{releases,masters,artists,labels}``. Modules, in the
order data flows through them:

- :mod:`.detect`   which entity a file holds, from its root element (not its name)
- :mod:`.stream`   open a file (gzip in-process or plain), skip the prolog, cut the byte stream
                   into chunks of whole records with their byte offsets and ordinals
- :mod:`.elements` shared element converters (artist credits, images, videos, ids, durations)
                   and the ``extra`` column that keeps anything the schema has no column for,
                   and the source spelling of numbers the columns cannot show
- :mod:`.parse_releases`, :mod:`.parse_masters`, :mod:`.parse_artists`, :mod:`.parse_labels`
                   one record element -> one row (a tuple in schema column order)
- :mod:`.fastpath`, :mod:`._walk` (Cython, optional) the fast path: the parsed records read at C
                   speed into Arrow buffers, the same values as the converters
- :mod:`.chunk`    parse one chunk (in a worker process), convert to Arrow, write one part file
- :mod:`.duplicates` count the record ids a written table holds more than once (DuckDB, bounded memory)
- :mod:`.ingest`   the stage: ``run(paths, workspace, ...) -> Report``
"""

from .detect import ENTITIES, Entity

__all__ = ["ENTITIES", "Entity"]
