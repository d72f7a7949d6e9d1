"""MFCC features for the DS-CNN keyword-spotting model from the speech recordings in MLPerf Tiny's
repository, computed as its training pipeline computes them (benchmark/training/keyword_spotting/
get_dataset.py: tf.signal.stft with a 30 ms periodic Hann window and a 20 ms hop, FFT length
512, magnitude, 40 HTK mel bands from 20 Hz to 4 kHz, log(mel + 1e-6), the orthonormal DCT-II
of tf.signal.mfccs_from_log_mel_spectrograms, the first 10 coefficients; 49 frames per second
of 16 kHz audio, the model's 1×1×49×10 input).

Each sample is one second of audio. The 10-second recording (digital silence, three spoken words,
background noise) is cut into BLOCK-second blocks that take turns: windows every STRIDE seconds
that lie wholly inside an even block are the calibration set, those inside an odd block, and the
1-second "marvin" clip, are the held-out set, so both sets see words, silence and noise and
share no audio. Identical windows (digital silence) are kept once per set. Both are written as
raw little-endian f32 (gos-opt's `--calib X.f32`).

    python3 scripts/kws-mfcc.py SHARED_SAMPLES_DIR OUT_DIR
"""
import sys
import wave

import numpy as np

RATE = 16000
WINDOW, HOP, FFT = 480, 320, 512
MEL_BINS, LOW_HZ, HIGH_HZ, COEFFS = 40, 20.0, 4000.0, 10
STRIDE = 0.0625
BLOCK = 2.5


def read_wav(path):
    """The recording as floats in [-1, 1), channels averaged (tf.audio.decode_wav scales by 1/32768)."""
    with wave.open(path) as w:
        assert w.getframerate() == RATE and w.getsampwidth() == 2, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        return pcm.reshape(-1, w.getnchannels()).mean(axis=1)


def hz_to_mel(f):
    """The HTK mel scale of tf.signal.linear_to_mel_weight_matrix."""
    return 1127.0 * np.log1p(f / 700.0)


def mel_matrix():
    """tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20, 4000): triangles on the mel
    scale over the FFT bins' frequencies, the DC bin left out."""
    bins = FFT // 2 + 1
    freqs = np.linspace(0.0, RATE / 2, bins)[1:]
    mel = hz_to_mel(freqs)[:, None]
    edges = np.linspace(hz_to_mel(LOW_HZ), hz_to_mel(HIGH_HZ), MEL_BINS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (mel - lower) / (center - lower)
    down = (upper - mel) / (upper - center)
    w = np.maximum(0.0, np.minimum(up, down))
    return np.vstack([np.zeros((1, MEL_BINS)), w])


def dct_matrix():
    """The first COEFFS rows of the DCT-II scaled by 1/sqrt(2·40), as tf.signal.dct(type=2)
    followed by mfccs_from_log_mel_spectrograms' rsqrt(2·num_mel_bins)."""
    n = np.arange(MEL_BINS)
    k = np.arange(COEFFS)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * MEL_BINS)) / np.sqrt(2.0 * MEL_BINS)


def mfcc(audio, mel, dct):
    """The 49×10 features of one second of audio."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)
    frames = 1 + (len(audio) - WINDOW) // HOP
    spec = np.stack([np.abs(np.fft.rfft(audio[i * HOP:i * HOP + WINDOW] * hann, FFT)) for i in range(frames)])
    return np.log(spec @ mel + 1e-6) @ dct.T


def main():
    samples, out = sys.argv[1], sys.argv[2]
    mel, dct = mel_matrix(), dct_matrix()
    long = read_wav(f"{samples}/benchmark/training/streaming_wakeword/short_wav_easy10s.wav")
    marvin = read_wav(f"{samples}/benchmark/runner/sd_card/marvin_617de221_0.wav")
    block = int(BLOCK * RATE)
    starts = np.arange(0, len(long) - RATE + 1, int(STRIDE * RATE))
    inside = [s for s in starts if s // block == (s + RATE - 1) // block]
    calib = [mfcc(long[s:s + RATE], mel, dct) for s in inside if (s // block) % 2 == 0]
    held = [mfcc(long[s:s + RATE], mel, dct) for s in inside if (s // block) % 2 == 1] + [mfcc(marvin, mel, dct)]
    for name, xs in (("calib", calib), ("eval", held)):
        xs = np.unique(np.stack(xs).astype("<f4"), axis=0)
        xs.tofile(f"{out}/{name}.f32")
        print(f"{out}/{name}.f32: {len(xs)} samples of 49x10")


if __name__ == "__main__":
    main()
