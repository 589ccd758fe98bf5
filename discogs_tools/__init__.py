"""discogs-tools: training data, contrastive training and probing for music representation
learning from Discogs editorial metadata and playlist co-occurrence.

The package is organised by stage, in data-flow order (see docs/ and DESIGN): ``discogs``
(dump ingestion), ``playlists``, ``collection``, ``match``, ``dataset``, ``pairs``,
``features``, ``train``, ``probe``, ``warehouse``. Shared core modules (``workspace``,
``io``, ``schemas``, ``manifest``, ``progress``, ``errors``, ``report``) are imported by
every stage; a stage never imports a later stage.
"""

__version__ = "0.1.0"
