"""Keyword-spotting front-end: int16 PCM -> MFCC -> int8 model input. Python twin of ``mcuf_mfcc.c``.

Per frame of ``window_len`` samples (one every ``stride`` samples):

1. scale int16 to [-1, 1) and multiply by a periodic Hann window;
2. zero-pad to ``fft_size`` and take an iterative radix-2 decimation-in-time complex FFT;
3. power spectrum ``re*re + im*im`` of bins 0 .. fft_size/2;
4. triangular mel filterbank (HTK mel scale, peaks of 1, no area normalisation), stored sparsely;
5. natural log of ``mel + log_epsilon``, by a fixed float32 polynomial rather than the C library's
   ``logf`` (glibc, newlib and NumPy differ in the last bit; the polynomial is the same everywhere);
6. DCT-II of the log-mel energies, ``ortho`` (SciPy ``norm='ortho'``) or ``none`` (SciPy
   ``norm=None``, i.e. ``2 * sum x[m] cos(pi k (m + 1/2) / M)``), keeping the first ``n_coeffs``;
7. quantise to int8 with the model input's scale and zero point, rounding half away from zero.

Output layout: ``[n_frames][n_coeffs]``, frame-major, matching a 49x10x1 model input.

Bit-exactness with the C: the twin does float32 arithmetic in the C's operation order (every sum is
accumulated sequentially, as the C loops do; NumPy is only used to vectorise over frames and over
independent butterflies), and both use the same constants: the window, twiddles, mel weights and DCT
matrix are computed here once in float64, rounded to float32 and emitted into ``mcuf_mfcc_tables.h``.
``mcuf_mfcc.c`` forbids contracting ``a * b + c`` into fused multiply-adds by pragma (GCC and Clang),
so any dialect or ``-ffp-contract`` setting gives the same bits; ``-ffast-math`` must not be used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from generator.dsp import checks
from generator.dsp.cheader import CMacro, CTable, c_float
from generator.errors import InputError

F32 = npt.NDArray[np.float32]

_OWNER = "MfccConfig"
_PCM_SCALE = np.float32(1.0 / 32768.0)

# The log polynomial: ln(x) = e*ln2 + 2*s*(1 + z/3 + z^2/5 + z^3/7 + z^4/9), s = (m-1)/(m+1), z = s*s,
# with x = m * 2^e and m in [sqrt(1/2), sqrt(2)]. The same literals appear in mcuf_mfcc.c.
_LOG_SQRT2 = np.float32("1.41421354")
_LOG_LN2 = np.float32("0.693147182")
_LOG_C = tuple(np.float32(c) for c in ("0.111111112", "0.142857149", "0.200000003", "0.333333343"))
_ONE, _TWO, _HALF = np.float32(1.0), np.float32(2.0), np.float32(0.5)


@dataclass(frozen=True)
class MfccConfig:
    """Every parameter of the MFCC front-end; the C side is configured from exactly these fields."""

    kind: ClassVar[str] = "mfcc"

    sample_rate: int = 16000
    window_ms: float = 30.0
    stride_ms: float = 20.0
    fft_size: int = 512
    n_mels: int = 40
    mel_low_hz: float = 20.0
    mel_high_hz: float = 4000.0
    log_epsilon: float = 1e-6
    dct_norm: Literal["ortho", "none"] = "ortho"
    n_coeffs: int = 10
    n_frames: int = 49
    # The model input's quantisation; replace with the scale and zero point of the converted model's
    # input tensor. The default maps [-88.8, 64.2] to int8: digital silence gives c0 = -87.4.
    out_scale: float = 0.6
    out_zero_point: int = 20

    def __post_init__(self) -> None:
        self.validate()

    @property
    def window_len(self) -> int:
        return round(self.window_ms * self.sample_rate / 1000)

    @property
    def stride(self) -> int:
        return round(self.stride_ms * self.sample_rate / 1000)

    @property
    def n_bins(self) -> int:
        return self.fft_size // 2 + 1

    @property
    def clip_samples(self) -> int:
        """Samples consumed by ``n_frames`` frames (15840 of a 1 s clip by default)."""
        return (self.n_frames - 1) * self.stride + self.window_len

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.n_frames, self.n_coeffs)

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first field that cannot work."""
        checks.int_in(_OWNER, "sample_rate", self.sample_rate, 1000, 192000)
        for name in ("window_ms", "stride_ms"):
            _whole_samples(name, getattr(self, name), self.sample_rate)
        checks.require(self.window_len >= 2, _OWNER, "window_ms", "window shorter than 2 samples",
                       "use a window of 10-40 ms")
        checks.require(self.stride >= 1, _OWNER, "stride_ms",
                       f"{self.stride_ms!r} ms is 0 samples at {self.sample_rate} Hz: no frame "
                       "would ever be computed",
                       f"set stride_ms (--stride-ms, or frontend.stride_ms in --app-config) to "
                       f"at least {1000 / self.sample_rate:g} ms, e.g. 20")
        _fft_size(self.fft_size, self.window_len)
        checks.int_in(_OWNER, "n_mels", self.n_mels, 1, self.n_bins)
        for name in ("mel_low_hz", "mel_high_hz"):
            checks.require(checks.is_real(getattr(self, name)), _OWNER, name,
                           f"must be a finite frequency, got {getattr(self, name)!r}",
                           "give the mel range in Hz, e.g. 20 and 4000")
        nyquist = self.sample_rate / 2
        checks.require(0 <= self.mel_low_hz < nyquist, _OWNER, "mel_low_hz",
                       f"must be in [0, sample_rate/2 = {nyquist:g}), got {self.mel_low_hz!r}",
                       "start the mel range at 20-300 Hz")
        checks.require(self.mel_low_hz < self.mel_high_hz <= nyquist, _OWNER, "mel_high_hz",
                       f"must be above mel_low_hz ({self.mel_low_hz:g}) and at most sample_rate/2 "
                       f"({nyquist:g}), got {self.mel_high_hz!r}",
                       f"end the mel range at or below {nyquist:g} Hz, e.g. 4000")
        checks.require(checks.is_real(self.log_epsilon) and 1e-30 <= self.log_epsilon <= 1.0,
                       _OWNER, "log_epsilon", f"must be in [1e-30, 1], got {self.log_epsilon!r}",
                       "use a small positive floor such as 1e-6")
        checks.require(self.dct_norm in ("ortho", "none"), _OWNER, "dct_norm",
                       f"must be 'ortho' or 'none', got {self.dct_norm!r}",
                       "use 'ortho' unless the model was trained with an unnormalised DCT")
        checks.int_in(_OWNER, "n_coeffs", self.n_coeffs, 1, self.n_mels)
        checks.int_in(_OWNER, "n_frames", self.n_frames, 1, 10000)
        checks.quant_scale(_OWNER, "out_scale", self.out_scale)
        checks.zero_point(_OWNER, "out_zero_point", self.out_zero_point)
        _mel_sparse(self)  # every band must cover at least one FFT bin

    def describe(self) -> str:
        return (
            f"MFCC: {self.sample_rate} Hz, {self.window_ms:g} ms Hann window ({self.window_len} "
            f"samples) every {self.stride_ms:g} ms ({self.stride}), {self.fft_size}-point FFT, "
            f"{self.n_mels} mel bands {self.mel_low_hz:g}-{self.mel_high_hz:g} Hz, "
            f"log(mel + {self.log_epsilon:g}), DCT-II ({self.dct_norm}) -> {self.n_frames} frames x "
            f"{self.n_coeffs} coefficients ({self.clip_samples} samples), "
            f"int8 scale {self.out_scale:g} zero point {self.out_zero_point}"
        )

    def c_macros(self) -> tuple[CMacro, ...]:
        return (
            CMacro("MCUF_MFCC_SAMPLE_RATE", str(self.sample_rate), "Hz"),
            CMacro("MCUF_MFCC_WINDOW_LEN", str(self.window_len), "samples per frame"),
            CMacro("MCUF_MFCC_STRIDE", str(self.stride), "samples between frame starts"),
            CMacro("MCUF_MFCC_FFT_SIZE", str(self.fft_size), "power of two >= WINDOW_LEN"),
            CMacro("MCUF_MFCC_FFT_LOG2", str(self.fft_size.bit_length() - 1)),
            CMacro("MCUF_MFCC_N_BINS", str(self.n_bins), "FFT_SIZE / 2 + 1"),
            CMacro("MCUF_MFCC_N_MELS", str(self.n_mels)),
            CMacro("MCUF_MFCC_N_COEFFS", str(self.n_coeffs), "per frame"),
            CMacro("MCUF_MFCC_N_FRAMES", str(self.n_frames)),
            CMacro("MCUF_MFCC_CLIP_SAMPLES", str(self.clip_samples), "samples read per clip"),
            CMacro("MCUF_MFCC_LOG_EPSILON", c_float(self.log_epsilon), "log(mel + epsilon)"),
            CMacro("MCUF_MFCC_OUT_SCALE", c_float(self.out_scale), "model input scale"),
            CMacro("MCUF_MFCC_OUT_ZERO_POINT", str(self.out_zero_point), "model input zero point"),
        )

    def c_tables(self) -> tuple[CTable, ...]:
        t = mfcc_tables(self)
        return (
            CTable("float", "mcuf_mfcc_window", t.window, "periodic Hann window"),
            CTable("float", "mcuf_mfcc_twiddle_re", t.twiddle_re, "cos(2 pi k / FFT_SIZE)"),
            CTable("float", "mcuf_mfcc_twiddle_im", t.twiddle_im, "-sin(2 pi k / FFT_SIZE)"),
            CTable("uint16_t", "mcuf_mfcc_mel_start", t.mel_start, "first FFT bin of each band"),
            CTable("uint16_t", "mcuf_mfcc_mel_len", t.mel_len, "FFT bins in each band"),
            CTable("uint16_t", "mcuf_mfcc_mel_offset", t.mel_offset,
                   "index of each band's first weight"),
            CTable("float", "mcuf_mfcc_mel_weights", t.mel_weights, "triangular mel weights"),
            CTable("float", "mcuf_mfcc_dct", t.dct, "DCT-II matrix [N_COEFFS][N_MELS]"),
        )


@dataclass(frozen=True, eq=False)
class MfccTables:
    """The float32 constants shared bit-for-bit by the C and the Python twin."""

    window: F32
    twiddle_re: F32
    twiddle_im: F32
    mel_start: npt.NDArray[np.uint16]
    mel_len: npt.NDArray[np.uint16]
    mel_offset: npt.NDArray[np.uint16]
    mel_weights: F32
    dct: F32
    bitrev: npt.NDArray[np.intp]


def _whole_samples(name: str, ms: Any, rate: int) -> None:
    ok = checks.is_real(ms) and ms > 0
    samples = ms * rate / 1000 if ok else 0.0
    checks.require(ok and abs(samples - round(samples)) < 1e-6, _OWNER, name,
                   f"{ms!r} ms is not a whole number of samples at {rate} Hz",
                   f"choose {name} so that {name} * sample_rate / 1000 is an integer")


def _fft_size(n: Any, window_len: int) -> None:
    ok = checks.is_int(n) and n >= window_len and n & (n - 1) == 0 and n <= 4096
    want = 1 << (window_len - 1).bit_length()
    checks.require(ok, _OWNER, "fft_size",
                   f"must be a power of two >= window length ({window_len}) and <= 4096, got {n!r}",
                   f"use fft_size={want}")


@cache
def mfcc_tables(cfg: MfccConfig) -> MfccTables:
    """Window, twiddles, sparse mel filterbank and DCT matrix: float64 maths rounded to float32."""
    n = cfg.fft_size
    k = np.arange(n // 2)
    start, length, offset, weights = _mel_sparse(cfg)
    tables = MfccTables(
        window=_f32(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.window_len) / cfg.window_len)),
        twiddle_re=_f32(np.cos(2 * np.pi * k / n)),
        twiddle_im=_f32(-np.sin(2 * np.pi * k / n)),
        mel_start=start,
        mel_len=length,
        mel_offset=offset,
        mel_weights=weights,
        dct=_f32(_dct_matrix(cfg)),
        bitrev=_bit_reverse_permutation(n),
    )
    for arr in vars(tables).values():
        arr.setflags(write=False)
    return tables


def _f32(x: npt.NDArray[np.float64]) -> F32:
    return np.ascontiguousarray(x, dtype=np.float32)


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def _mel_dense(cfg: MfccConfig) -> npt.NDArray[np.float64]:
    """[n_mels][n_bins] triangular weights on the HTK mel scale, peak 1 at each band centre."""
    lo_mel, hi_mel = _hz_to_mel(np.array([cfg.mel_low_hz, cfg.mel_high_hz], np.float64))
    edges = _mel_to_hz(np.linspace(lo_mel, hi_mel, cfg.n_mels + 2))
    freqs = np.arange(cfg.n_bins) * cfg.sample_rate / cfg.fft_size
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lo) / (mid - lo)
    falling = (hi - freqs[None, :]) / (hi - mid)
    return np.maximum(0.0, np.minimum(rising, falling))


def _mel_sparse(cfg: MfccConfig) -> tuple[npt.NDArray[np.uint16], npt.NDArray[np.uint16],
                                          npt.NDArray[np.uint16], F32]:
    dense = _mel_dense(cfg).astype(np.float32)
    starts, lengths, chunks = [], [], []
    for m, row in enumerate(dense):
        nz = np.flatnonzero(row)
        if nz.size == 0:
            raise InputError(
                f"{_OWNER}.n_mels: mel band {m} covers no FFT bin "
                f"({cfg.n_mels} bands over {cfg.mel_low_hz:g}-{cfg.mel_high_hz:g} Hz, "
                f"{cfg.sample_rate / cfg.fft_size:g} Hz per bin)",
                "use fewer mel bands, a higher mel_low_hz, or a larger fft_size")
        first, last = int(nz[0]), int(nz[-1])
        starts.append(first)
        lengths.append(last - first + 1)
        chunks.append(row[first : last + 1])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return (np.array(starts, np.uint16), np.array(lengths, np.uint16),
            offsets.astype(np.uint16), np.concatenate(chunks).astype(np.float32))


def _dct_matrix(cfg: MfccConfig) -> npt.NDArray[np.float64]:
    m = cfg.n_mels
    k = np.arange(cfg.n_coeffs)[:, None]
    basis = np.cos(np.pi * k * (np.arange(m)[None, :] + 0.5) / m)
    if cfg.dct_norm == "none":
        return 2.0 * basis
    scale = np.full((cfg.n_coeffs, 1), math.sqrt(2.0 / m))
    scale[0, 0] = math.sqrt(1.0 / m)
    matrix: npt.NDArray[np.float64] = basis * scale
    return matrix


def _bit_reverse_permutation(n: int) -> npt.NDArray[np.intp]:
    bits = n.bit_length() - 1
    return np.array([int(f"{i:0{bits}b}"[::-1], 2) if bits else 0 for i in range(n)], np.intp)


# ---- the twin of mcuf_mfcc.c, vectorised over frames ----------------------------------------------


def _as_pcm(pcm: npt.ArrayLike) -> npt.NDArray[np.int16]:
    arr = np.asarray(pcm)
    if arr.dtype != np.int16 or arr.ndim not in (1, 2):
        raise InputError(
            f"MFCC input must be int16 PCM of shape (samples,) or (clips, samples), "
            f"got {arr.dtype} {arr.shape}",
            "convert float audio in [-1, 1) with (x * 32768).clip(-32768, 32767).astype(np.int16)")
    return arr


def _frames(pcm: npt.NDArray[np.int16], cfg: MfccConfig) -> npt.NDArray[np.int16]:
    """(..., n_frames, window_len) views of the clip; samples past its end read as silence."""
    need = cfg.clip_samples
    if pcm.shape[-1] < need:
        pad = [(0, 0)] * (pcm.ndim - 1) + [(0, need - pcm.shape[-1])]
        pcm = np.pad(pcm, pad)
    idx = np.arange(cfg.n_frames)[:, None] * cfg.stride + np.arange(cfg.window_len)[None, :]
    return pcm[..., idx]


def _fft_power(x: F32, t: MfccTables, n: int) -> F32:
    """Power spectrum of bins 0..n/2: radix-2 DIT, butterflies in the C's order and arithmetic."""
    shape = (*x.shape[:-1], n)
    re = np.zeros(shape, np.float32)
    im = np.zeros(shape, np.float32)
    re[..., t.bitrev[: x.shape[-1]]] = x
    half = 1
    while half < n:
        starts = np.arange(0, n, 2 * half)
        k = np.tile(np.arange(half), starts.size)
        a = np.repeat(starts, half) + k
        b = a + half
        wr, wi = t.twiddle_re[k * (n // (2 * half))], t.twiddle_im[k * (n // (2 * half))]
        bre, bim = re[..., b], im[..., b]
        tr = wr * bre - wi * bim
        ti = wr * bim + wi * bre
        are, aim = re[..., a], im[..., a]
        re[..., b], im[..., b] = are - tr, aim - ti
        re[..., a], im[..., a] = are + tr, aim + ti
        half *= 2
    nb = n // 2 + 1
    out: F32 = re[..., :nb] * re[..., :nb] + im[..., :nb] * im[..., :nb]
    return out


def _mel(power: F32, t: MfccTables) -> F32:
    """Sparse filterbank; each band summed bin by bin from its first bin, as the C loop does."""
    out = np.zeros((*power.shape[:-1], t.mel_len.size), np.float32)
    zero = np.float32(0.0)
    for j in range(int(t.mel_len.max())):
        active = t.mel_len > j
        bins = np.where(active, t.mel_start + j, 0)
        w = np.where(active, t.mel_weights[np.where(active, t.mel_offset + j, 0)], zero)
        out += w * power[..., bins]  # inactive bands add exactly +0
    return out


def log_f32(x: F32) -> F32:
    """Natural log of positive normal float32 values, bit-identical to ``log_f32`` in mcuf_mfcc.c."""
    bits = x.view(np.uint32)
    e = ((bits >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int32) - np.int32(127)
    m = ((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000)).view(np.float32)
    big = m > _LOG_SQRT2
    m = np.where(big, m * _HALF, m)
    e = e + big.astype(np.int32)
    s = (m - _ONE) / (m + _ONE)
    z = s * s
    p = _LOG_C[0] * z + _LOG_C[1]
    p = p * z + _LOG_C[2]
    p = p * z + _LOG_C[3]
    p = p * z + _ONE
    out: F32 = e.astype(np.float32) * _LOG_LN2 + (_TWO * s) * p
    return out


def _dct(logmel: F32, t: MfccTables) -> F32:
    out = np.zeros((*logmel.shape[:-1], t.dct.shape[0]), np.float32)
    for m in range(t.dct.shape[1]):
        out += t.dct[:, m] * logmel[..., m : m + 1]
    return out


def quantise(values: F32, scale: float, zero_point: int) -> npt.NDArray[np.int8]:
    """float32 -> int8 as the C does: divide, clamp, round half away from zero, add zero point."""
    v = np.clip(values / np.float32(scale), np.float32(-256.0), np.float32(256.0))
    whole = np.trunc(v)
    frac = v - whole
    q = whole.astype(np.int32) + (frac >= _HALF) - (frac <= -_HALF) + zero_point
    out: npt.NDArray[np.int8] = np.clip(q, -128, 127).astype(np.int8)
    return out


def mfcc_float(pcm: npt.ArrayLike, cfg: MfccConfig | None = None) -> F32:
    """float32 MFCCs of shape (n_frames, n_coeffs), or (clips, n_frames, n_coeffs) for a batch.

    The clip is read from its first sample; samples past its end count as silence. These are the
    values the C quantises, so a model trained on them sees what the firmware computes.
    """
    cfg = cfg or MfccConfig()
    t = mfcc_tables(cfg)
    frames = _frames(_as_pcm(pcm), cfg)
    x = frames.astype(np.float32) * _PCM_SCALE * t.window
    mel = _mel(_fft_power(x, t, cfg.fft_size), t)
    return _dct(log_f32(mel + np.float32(cfg.log_epsilon)), t)


def mfcc_features(pcm: npt.ArrayLike, cfg: MfccConfig | None = None) -> npt.NDArray[np.int8]:
    """int8 model input of shape (n_frames, n_coeffs) (or batched), equal to ``mcuf_mfcc_compute``."""
    cfg = cfg or MfccConfig()
    return quantise(mfcc_float(pcm, cfg), cfg.out_scale, cfg.out_zero_point)
