"""Audio features: 96-band log-mel spectrograms as Essentia's TensorflowInputMusiCNN computes them,
stored as float16 shards with a Parquet index so that the trainer can memory-map them.

Modules, in data-flow order:

- :mod:`.audio`   decode (soundfile), downmix to mono, optional centre crop, resample to 16 kHz (soxr)
- :mod:`.mel`     the mel front end (frame 512, hop 256, 96 slaney bands, log10(1 + 10000 x))
- :mod:`.mel_torch` the same front end in torch (runs on a GPU; within 1e-5 of :mod:`.mel`)
- :mod:`.store`   shard files + index: writing (one shard per work unit) and memory-mapped reading
- :mod:`.extract` the ``features`` stage: parallel, resumable, rejects for corrupt or silent audio
- :mod:`.ranks`   several processes or machines (torchrun) sharing one feature set (or one table)
"""

from .mel import MelFrontEnd, log_mel  # noqa: F401

