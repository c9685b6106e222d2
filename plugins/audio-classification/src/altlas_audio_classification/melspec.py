"""YAMNet's log-mel front end in numpy.

16 kHz mono -> magnitude STFT (25 ms periodic Hann window, 10 ms hop, 512-point FFT, no
centering) -> 64 HTK mel bands from 125 to 7500 Hz -> ``log(mel + 0.001)`` -> patches of
96 frames (0.96 s) every 48 frames (0.48 s), as YAMNet was trained on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms
FFT = 512
MELS = 64
F_MIN, F_MAX = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96
PATCH_HOP_FRAMES = 48
#: Seconds between the starts of two patches, and the length of one.
PATCH_HOP_S = PATCH_HOP_FRAMES * HOP / SAMPLE_RATE
PATCH_S = PATCH_FRAMES * HOP / SAMPLE_RATE


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    import numpy as np

    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank() -> np.ndarray:
    """Triangular HTK mel filters, unnormalized: shape ``(FFT // 2 + 1, MELS)``."""
    import numpy as np

    freqs = np.linspace(0, SAMPLE_RATE // 2, FFT // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(F_MIN)), _hz_to_mel(np.array(F_MAX)), MELS + 2)
    )
    widths = np.diff(edges)
    slopes = edges[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    return np.maximum(0.0, np.minimum(down, up))


def log_mel_patches(waveform: np.ndarray, filterbank: np.ndarray) -> np.ndarray:
    """Patches of shape ``(n, 1, 96, 64)`` (float32) from 16 kHz mono samples; a clip
    shorter than one patch is padded with silence."""
    import numpy as np

    samples = waveform.astype(np.float32)
    if samples.size < WINDOW:
        samples = np.pad(samples, (0, WINDOW - samples.size))
    count = 1 + (samples.size - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples, WINDOW)[::HOP][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann
    magnitude = np.abs(np.fft.rfft(frames * window, n=FFT))
    log_mel = np.log(magnitude @ filterbank + LOG_OFFSET).astype(np.float32)
    if log_mel.shape[0] < PATCH_FRAMES:
        # Silence is log(0 + offset) in this domain, not zero.
        pad = np.full((PATCH_FRAMES - log_mel.shape[0], MELS), np.log(LOG_OFFSET), np.float32)
        log_mel = np.concatenate([log_mel, pad])
    starts = range(0, log_mel.shape[0] - PATCH_FRAMES + 1, PATCH_HOP_FRAMES)
    return np.stack([log_mel[s : s + PATCH_FRAMES] for s in starts])[:, None, :, :]
