"""The mel-spectrogram front end of Essentia's ``TensorflowInputMusiCNN``, in numpy.

Essentia's algorithm (src/algorithms/spectral/tensorflowinputmusicnn.cpp) hard-codes its
parameters so that they match the training of MusiCNN / Discogs-EffNet models:

- 16 kHz input, frames of 512 samples, hop 256 (``FrameCutter`` defaults: the first frame is
  centred on sample 0, i.e. preceded by 256 zeros, and frames continue while their start lies
  before the end of the signal: ``ceil(n / 256) + 1`` frames);
- ``Windowing(type="hann", normalized=False)``: the symmetric Hann window ``0.5 - 0.5 cos(2 pi i / 511)``
  (its zero-phase rotation does not change magnitudes);
- ``Spectrum(size=512)``: magnitude of the 257-bin real FFT;
- ``MelBands(numberBands=96, sampleRate=16000, lowFrequencyBound=0, highFrequencyBound=8000,
  warpingFormula="slaneyMel", weighting="linear", normalize="unit_tri", type="power")``: band
  edges equally spaced on the Slaney mel scale, triangles linear in Hz over the FFT bins they
  cover, each divided by its half-width in Hz (``unit_tri``), applied to the *power* spectrum;
- ``UnaryOperator(shift=1, scale=10000)`` then ``log10``: ``log10(1 + 10000 x)``.

We recompute the same numbers with numpy (scipy.fft, float32 in the FFT, float64 filter bank);
tests/test_features_mel.py checks agreement with Essentia itself (max abs difference < 1e-3).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
FRAME_SIZE = 512
HOP_SIZE = 256
N_MELS = 96


# Slaney's mel scale (Auditory Toolbox): 200/3 Hz per mel below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel_slaney(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (Auditory Toolbox): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz >= _SLANEY_MIN_LOG_HZ,
                    _SLANEY_MIN_LOG_MEL + np.log(np.maximum(hz, 1e-10) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP,
                    hz / _SLANEY_F_SP)


def mel_to_hz_slaney(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel_slaney`."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= _SLANEY_MIN_LOG_MEL,
                    _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (mel - _SLANEY_MIN_LOG_MEL)),
                    mel * _SLANEY_F_SP)


@lru_cache(maxsize=8)
def mel_filterbank(n_mels: int = N_MELS, frame_size: int = FRAME_SIZE, sample_rate: int = SAMPLE_RATE,
                   low_hz: float = 0.0, high_hz: float | None = None) -> np.ndarray:
    """The (n_mels, frame_size // 2 + 1) weights of Essentia's TriangularBands with the settings above."""
    high_hz = sample_rate / 2 if high_hz is None else high_hz
    n_bins = frame_size // 2 + 1
    edges = mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(low_hz), hz_to_mel_slaney(high_hz), n_mels + 2))
    bin_hz = (sample_rate / 2) / (n_bins - 1)
    freqs = np.arange(n_bins) * bin_hz
    weights = np.zeros((n_mels, n_bins), dtype=np.float64)
    for i in range(n_mels):
        lo, centre, hi = edges[i], edges[i + 1], edges[i + 2]
        first, last = int(np.ceil(lo / bin_hz)), int(np.floor(hi / bin_hz))
        f = freqs[first:last + 1]
        rising = (f - lo) / (centre - lo)
        falling = (hi - f) / (hi - centre)
        weights[i, first:last + 1] = np.where(f < centre, rising, falling)
        weights[i] /= (hi - lo) / 2.0  # "unit_tri": the theoretical triangle area
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=4)
def hann_window(size: int = FRAME_SIZE) -> np.ndarray:
    """Essentia's (symmetric) Hann window."""
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / (size - 1))).astype(np.float32)
    w.setflags(write=False)
    return w


def n_frames(n_samples: int, hop: int = HOP_SIZE) -> int:
    """Frames FrameCutter yields for a signal of ``n_samples`` (first frame centred on sample 0)."""
    return -(-n_samples // hop) + 1


def frame_signal(signal: np.ndarray, frame_size: int = FRAME_SIZE, hop: int = HOP_SIZE) -> np.ndarray:
    """(n_frames, frame_size) view of the zero-padded signal, as Essentia's FrameCutter cuts it."""
    count = n_frames(len(signal), hop)
    padded = np.zeros((count - 1) * hop + frame_size, dtype=np.float32)
    start = frame_size // 2
    padded[start:start + len(signal)] = signal[: len(padded) - start]
    return np.lib.stride_tricks.sliding_window_view(padded, frame_size)[::hop][:count]


@dataclass(frozen=True)
class MelFrontEnd:
    """Parameters of the front end; saved next to the features so that readers can check them."""

    sample_rate: int = SAMPLE_RATE
    frame_size: int = FRAME_SIZE
    hop_size: int = HOP_SIZE
    n_mels: int = N_MELS
    log_shift: float = 1.0
    log_scale: float = 10_000.0
    name: str = "essentia-TensorflowInputMusiCNN"

    def __call__(self, signal: np.ndarray, block_frames: int = 4096) -> np.ndarray:
        """(n_frames, n_mels) float32 log-mel of a mono float signal at ``sample_rate``."""
        from scipy import fft as sfft

        signal = np.ascontiguousarray(signal, dtype=np.float32)
        frames = frame_signal(signal, self.frame_size, self.hop_size)
        window = hann_window(self.frame_size)
        weights_t = mel_filterbank(self.n_mels, self.frame_size, self.sample_rate).T.astype(np.float32)
        out = np.empty((len(frames), self.n_mels), dtype=np.float32)
        for start in range(0, len(frames), block_frames):  # bounded temporary memory
            block = frames[start:start + block_frames] * window
            spec = sfft.rfft(block, axis=1)
            power = spec.real ** 2 + spec.imag ** 2
            mel = power @ weights_t
            np.log10(self.log_shift + self.log_scale * mel, out=out[start:start + len(block)])
        return out


def log_mel(signal: np.ndarray) -> np.ndarray:
    """Log-mel spectrogram with the default (Essentia MusiCNN) front end."""
    return MelFrontEnd()(signal)
