"""``make-pairs``: positive pairs for contrastive training, one module per association
(DESIGN section 4), a registry, a validator and Table-1 statistics.

Library API::

    from discogs_tools.pairs import make_pairs, read_pairs, validate_pairs
    make_pairs(ws, "discogs20", "artist", split="train", epoch=3, seed=0)          -> Report
    from discogs_tools.pairs.ico import informed_cooccurrence_pairs               -> pa.Table
"""

from __future__ import annotations

from .make import make_pairs, make_pairs_epochs
from .output import epoch_path, pairs_dir, read_pairs
from .registry import ASSOCIATIONS, EDITORIAL, PLAYLIST
from .validate import validate_pairs

__all__ = ["ASSOCIATIONS", "EDITORIAL", "PLAYLIST", "epoch_path", "make_pairs", "make_pairs_epochs", "pairs_dir", "read_pairs",
           "validate_pairs"]
