"""The same log-mel front end as :class:`~.mel.MelFrontEnd`, in torch, so that it runs on a GPU.

Every step is the numpy path's, in float32: frames cut as Essentia's FrameCutter cuts them
(first frame centred on sample 0, ``ceil(n / hop) + 1`` frames), the symmetric Hann window,
the 257-bin real FFT, the power spectrum, the ``unit_tri`` Slaney filter bank of
:func:`~.mel.mel_filterbank` (computed once in float64, used in float32) and
``log10(shift + scale * x)``. Only the FFT and matmul kernels differ, so values agree with the
numpy path (itself within 1e-3 of Essentia) to about 1e-5; tests/test_features_torch.py checks
< 1e-3 on CPU. Frames of several tracks go through the FFT together in blocks of
``block_frames`` (bounded device memory; short tracks fill a block instead of launching one
small FFT each).

TF32 matmuls (if a user enables ``torch.backends.cuda.matmul.allow_tf32``) would lose about three
decimal digits in the filter bank; :meth:`TorchMel.__init__` leaves torch's default (off).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .mel import MelFrontEnd, hann_window, mel_filterbank, n_frames


def resolve_device(device: str = "auto") -> str:
    """``auto``: this rank's GPU (``cuda:LOCAL_RANK``) when torch sees one, else ``cpu``."""
    import os

    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0')) % torch.cuda.device_count()}"
        return "cpu"
    return device


class TorchMel:
    """Callable: (n_frames, n_mels) float32 log-mel of a mono float signal, computed on ``device``."""

    def __init__(self, front_end: MelFrontEnd | None = None, device: str = "cpu", block_frames: int = 16_384) -> None:
        import torch

        self.front_end = front_end or MelFrontEnd()
        self.device = torch.device(device)
        self.block_frames = block_frames
        fe = self.front_end
        self._window = torch.from_numpy(np.array(hann_window(fe.frame_size))).to(self.device)
        weights = mel_filterbank(fe.n_mels, fe.frame_size, fe.sample_rate).T.astype(np.float32)
        self._weights = torch.from_numpy(np.ascontiguousarray(weights)).to(self.device)

    def _frames(self, signal):
        """(n_frames, frame_size) frames of one signal tensor on the device (FrameCutter's cut)."""
        import torch

        fe = self.front_end
        count = n_frames(int(signal.shape[0]), fe.hop_size)
        padded = torch.zeros((count - 1) * fe.hop_size + fe.frame_size, dtype=torch.float32, device=self.device)
        start = fe.frame_size // 2
        take = min(int(signal.shape[0]), padded.shape[0] - start)
        padded[start:start + take] = signal[:take]
        return padded.unfold(0, fe.frame_size, fe.hop_size)[:count]

    def _log_mel(self, frames):
        import torch

        fe = self.front_end
        spec = torch.fft.rfft(frames * self._window, dim=1)
        power = spec.real.square() + spec.imag.square()
        return torch.log10(fe.log_shift + fe.log_scale * (power @ self._weights))

    def batch(self, signals: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Log-mels of several signals (one FFT per block of frames over all of them)."""
        import torch

        with torch.inference_mode():
            tensors = [torch.from_numpy(np.ascontiguousarray(s, dtype=np.float32)).to(self.device) for s in signals]
            frames = [self._frames(t) for t in tensors]
            counts = [int(f.shape[0]) for f in frames]
            out = torch.empty((sum(counts), self.front_end.n_mels), dtype=torch.float32, device=self.device)
            pending: list = []
            filled = written = 0
            for f in frames:  # gather frames into blocks of block_frames rows, then transform each block
                at = 0
                while at < f.shape[0]:
                    take = min(self.block_frames - filled, int(f.shape[0]) - at)
                    pending.append(f[at:at + take])
                    filled += take
                    at += take
                    if filled == self.block_frames:
                        out[written:written + filled] = self._log_mel(torch.cat(pending))
                        written += filled
                        pending, filled = [], 0
            if pending:
                out[written:written + filled] = self._log_mel(torch.cat(pending))
            host = out.cpu().numpy()
        return [a for a in np.split(host, np.cumsum(counts)[:-1])] if counts else []

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        return self.batch([signal])[0]
