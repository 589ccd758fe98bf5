"""Million Song Dataset tagging: the common split (``msd``, Lee et al.) and CALS (``msd-cals``, Won et al.).

seed 004 sec. 6.3.3 (Table 6.1): "the Million Song Dataset (MSD) with the commonly used training,
validation, and testing splits used in ... Lee et al. (2018)" (241,889 tracks, 50 labels) and "the
CALS split, which is an artist-filtered version of the MSD ground truth proposed by Won et al.
(2021)" (231,782 tracks, 50 labels).

``msd`` reads ``jongpillee/music_dataset_split`` ``MSD_split/`` as distributed (Python 2 cPickle
files): ``filtered_list_train.cP`` (a list of MSD ids: the first 201,680 train, the rest
validation, as its README says), ``filtered_list_test.cP``, ``msd_id_to_tag_vector.cP`` (MSD id ->
50 0/1 values), ``50tagList.txt`` (one tag a line, the vector's order), ``MSD_id_to_7D_id.pkl`` and
``7D_id_to_path.pkl`` (MSD id -> 7digital id -> ``8/9/8947470.clip.mp3``, the audio path).

``msd-cals`` reads ``minzwon/semi-supervised-music-tagging-transformer`` ``data/splits/``:
``{train,valid,test}_ids.npy`` (MSD ids) and ``{train,valid,test}_binaries.npy`` (n x 50 0/1, in
the order of that repository's ``MSDConfig.tag_names``, :data:`CALS_TAGS`); audio
``A/B/C/<MSD id>.wav`` from the id's 3rd-5th characters, as that repository's loader builds it.

Pickles can run code when loaded, so they are read with an unpickler that only accepts plain
containers and NumPy arrays.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .common import (
    MULTILABEL,
    Loaded,
    Record,
    read_lines,
    require_files,
    vocabulary_notes,
)

PUBLISHED_LEE = "https://github.com/jongpillee/music_dataset_split (MSD_split/); audio: 7digital previews of the MSD"
PUBLISHED_CALS = ("https://github.com/minzwon/semi-supervised-music-tagging-transformer (data/splits/); "
                  "audio: 7digital previews of the MSD")
LEE_FILES = ("filtered_list_train.cP", "filtered_list_test.cP", "msd_id_to_tag_vector.cP", "50tagList.txt",
             "MSD_id_to_7D_id.pkl", "7D_id_to_path.pkl")
LEE_TRAIN = 201_680
CALS_FILES = tuple(f"{s}_{k}.npy" for s in ("train", "valid", "test") for k in ("ids", "binaries"))
CALS_TAGS = (
    "rock", "pop", "indie", "alternative", "electronic", "hip-hop", "metal", "jazz", "punk", "folk",
    "alternative rock", "indie rock", "dance", "hard rock", "00s", "soul", "hardcore", "80s", "country",
    "classic rock", "punk rock", "blues", "chillout", "experimental", "heavy metal", "death metal", "90s",
    "reggae", "progressive rock", "ambient", "acoustic", "beautiful", "british", "rnb", "funk", "metalcore",
    "mellow", "world", "guitar", "trance", "indie pop", "christian", "house", "spanish", "latin",
    "psychedelic", "electro", "piano", "70s", "progressive metal",
)
# keunwoochoi/MSD_split_for_tagging tags.py, the order of 50tagList.txt.
LEE_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
    "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
)

_SAFE = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
         ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
         ("numpy", "ndarray"), ("numpy", "dtype"), ("builtins", "set"), ("builtins", "frozenset"),
         ("__builtin__", "set"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
         ("__builtin__", "object"), ("builtins", "object"),
         ("_codecs", "encode")}  # Python 3 writes bytes into protocol-2 pickles through _codecs.encode


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module == "__builtin__":
            module = "builtins"
        elif module == "copy_reg":
            module = "copyreg"
        return super().find_class(module, name)


def load_pickle(path: Path) -> Any:
    """A Python 2 or 3 pickle of containers / NumPy arrays (Python 2 str read as latin-1 text)."""
    try:
        with open(path, "rb") as fh:
            return _SafeUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise InputError(path, f"not a readable pickle of ids/arrays ({exc})") from None


def load_npy(path: Path) -> np.ndarray:
    """A ``.npy`` array; object arrays go through the restricted unpickler."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            _, _, dtype = read_header(fh)
            if dtype.hasobject:
                array = _SafeUnpickler(fh, encoding="latin1").load()
                return np.asarray(array)
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, pickle.UnpicklingError, EOFError) as exc:
        raise InputError(path, f"not a readable .npy array ({exc})") from None


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def load_lee(root: Path, name: str = "msd") -> Loaded:
    files = require_files(root, name, LEE_FILES, PUBLISHED_LEE)
    train_all, test = load_pickle(files[0]), load_pickle(files[1])
    vectors, tags = load_pickle(files[2]), read_lines(files[3])
    to_7d, to_path = load_pickle(files[4]), load_pickle(files[5])
    for path, obj, kind in ((files[0], train_all, list), (files[1], test, list), (files[2], vectors, dict),
                            (files[4], to_7d, dict), (files[5], to_path, dict)):
        if not isinstance(obj, kind):
            raise InputError(path, f"expected a pickled {kind.__name__}, got {type(obj).__name__}")
    if len(tags) != 50:
        raise InputError(files[3], f"{len(tags)} tags, expected 50 (one a line)")
    vectors = {_text(k): v for k, v in vectors.items()}
    to_7d = {_text(k): v for k, v in to_7d.items()}
    to_path = {_text(k): v for k, v in to_path.items()}
    records = []
    splits = [("train", train_all[:LEE_TRAIN]), ("validation", train_all[LEE_TRAIN:]), ("test", test)]
    for split, ids in splits:
        for raw in ids:
            msd_id = _text(raw)
            vector = vectors.get(msd_id)
            seven = to_7d.get(msd_id)
            rel = to_path.get(_text(seven)) if seven is not None else None
            if vector is None or rel is None:
                what = "msd_id_to_tag_vector.cP" if vector is None else "MSD_id_to_7D_id.pkl / 7D_id_to_path.pkl"
                raise InputError(files[0 if split != "test" else 1], f"{msd_id} has no entry in {what}", record=msd_id)
            flags = np.asarray(vector).reshape(-1)
            records.append(Record(track_id=msd_id, path=_text(rel), split=split, title=msd_id,
                                  labels=[t for t, on in zip(tags, flags) if on]))
    notes = vocabulary_notes(name, tags, LEE_TAGS)
    return Loaded(kind=MULTILABEL, records=records, vocabulary=list(tags), notes=notes, files=files)


def load_cals(root: Path, name: str = "msd-cals") -> Loaded:
    files = require_files(root, name, CALS_FILES, PUBLISHED_CALS)
    records = []
    for split, (ids_path, bin_path) in zip(("train", "validation", "test"), zip(files[::2], files[1::2])):
        ids, binaries = load_npy(ids_path), load_npy(bin_path)
        if binaries.ndim != 2 or binaries.shape != (len(ids), len(CALS_TAGS)):
            raise InputError(bin_path, f"shape {binaries.shape}, expected ({len(ids)}, {len(CALS_TAGS)}) "
                             f"for the ids of {ids_path.name}")
        for raw, flags in zip(ids, binaries):
            msd_id = _text(raw)
            if len(msd_id) < 5:
                raise InputError(ids_path, f"{msd_id!r} is not an MSD track id", record=msd_id)
            records.append(Record(track_id=msd_id, path=f"{msd_id[2]}/{msd_id[3]}/{msd_id[4]}/{msd_id}.wav",
                                  split=split, title=msd_id, labels=[t for t, on in zip(CALS_TAGS, flags) if on]))
    return Loaded(kind=MULTILABEL, records=records, vocabulary=list(CALS_TAGS), files=files)
