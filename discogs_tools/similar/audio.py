"""An audio file embedded on the fly with a run's model, exactly as ``embed`` embeds a track.

The file is decoded and turned into log-mel frames with the settings of the feature set the
embeddings were computed from (``features/<name>/features.json``: front end, centre crop), stored
as float16 as the features stage stores them, then passed through the run's backbone by
:func:`discogs_tools.train.embed.embed_positions` (the mean over half-overlapping patches), so a
collection track given as a file gets the vector ``embed`` wrote for it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, MissingInputError
from ..features.audio import AudioError, load_audio
from ..features.mel import MelFrontEnd
from ..features.store import read_settings
from ..train.embed import embed_positions, load_backbone, resolve_checkpoint
from ..workspace import Workspace


class OneTrack:
    """The part of a FeatureStore that :func:`embed_positions` reads, for one in-memory track."""

    def __init__(self, mel: np.ndarray) -> None:
        self.mel = mel
        self.n_mels = int(mel.shape[1])
        self.frames = np.array([len(mel)], dtype=np.int64)

    def rows(self, position: int, start: int = 0, length: int | None = None) -> np.ndarray:
        return self.mel[start:] if length is None else self.mel[start:start + length]


def feature_settings(ws: Workspace, run: str, features: str) -> dict:
    root = ws.features / features
    settings = read_settings(root)
    if settings is None:
        raise MissingInputError(f"settings of feature set {features} (needed to embed an audio query for run {run})",
                                root / "features.json", "discogs-tools features")
    return settings


def embedding_checkpoint(ws: Workspace, run: str) -> Path:
    """The checkpoint ``embed`` used for the run's embeddings (the manifest records it), else the
    run's best checkpoint, as ``embed -c RUN`` picks it."""
    from .. import manifest

    entry = manifest.get(ws.manifest_path, f"embed {run}") or {}
    recorded = (entry.get("params") or {}).get("checkpoint")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    return resolve_checkpoint(ws, run)


def embed_audio_file(ws: Workspace, run: str, path: str | Path, features: str) -> np.ndarray:
    """The run's embedding (float32, 1-d) of an audio file; an undecodable file is a one-line
    :class:`InputError` saying why."""
    settings = feature_settings(ws, run, features)
    front_end = MelFrontEnd(**settings["front_end"])
    try:
        decoded = load_audio(path, crop_s=settings.get("crop_s"), sample_rate=front_end.sample_rate)
    except AudioError as exc:
        raise InputError(path, f"cannot use this file as an audio query ({exc.kind}): {exc.reason}") from None
    mel = front_end(decoded.signal).astype(np.float16)
    if len(mel) == 0:
        raise InputError(path, "cannot use this file as an audio query (empty): too short for one spectrogram frame")
    backbone, _ = load_backbone(embedding_checkpoint(ws, run))
    return embed_positions(backbone, OneTrack(mel), np.array([0]))[0]
