"""Resemblyzer's input features in numpy: 40-band mel power spectrogram frames.

The same as Resemblyzer's ``wav_to_mel_spectrogram`` (librosa's ``melspectrogram`` at
16 kHz: 25 ms periodic Hann window, 10 ms hop, centred frames with zero padding, power
2, Slaney mel scale and normalization), written out so the plugin needs no librosa.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16000
FFT = 400  # 25 ms
HOP = 160  # 10 ms
MELS = 40

# Slaney's mel scale: linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = math.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    import numpy as np

    mel = hz / _F_SP
    log_part = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(hz >= _MIN_LOG_HZ, log_part, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    import numpy as np

    hz = _F_SP * mel
    log_part = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log_part, hz)


def mel_filterbank() -> np.ndarray:
    """Slaney-normalized triangular filters, shape ``(MELS, FFT // 2 + 1)``."""
    import numpy as np

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, FFT // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2)), MELS + 2)
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


def mel_frames(samples: np.ndarray, filterbank: np.ndarray) -> np.ndarray:
    """Mel power frames, shape ``(n_frames, MELS)`` (float32), one every 10 ms."""
    import numpy as np

    padded = np.pad(samples.astype(np.float32), FFT // 2)
    if padded.size < FFT:
        padded = np.pad(padded, (0, FFT - padded.size))
    count = 1 + (padded.size - FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, FFT)[::HOP][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FFT) / FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, n=FFT)) ** 2
    return (power @ filterbank.T).astype(np.float32)
