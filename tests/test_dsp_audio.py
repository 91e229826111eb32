"""MFCC front-end: the C, built with the host gcc and called through ctypes, equals its Python twin.

Both read the same WAV fixtures (espeak-ng speech and synthetic edge cases, made at test time by
tests/support/wavs.py). Agreement is required to be exact, with no tolerance: the int8 features are
equal and so are the bit patterns of the float32 coefficients, on every frame, for several
configurations and also when the C is built with ``-std=gnu11 -O3 -march=native -ffp-contract=fast``.
That is by design: the twin repeats the C's float32 operations in the C's order with the same emitted
tables, the log is a shared polynomial rather than each library's ``logf``, and the C forbids fused
multiply-adds. The twin itself is checked against an independent float64 NumPy reference.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.dsp import (
    MfccConfig,
    emit_config_header,
    emit_tables_header,
    mfcc_features,
    mfcc_float,
    mfcc_tables,
    write_frontend_files,
)
from generator.dsp.audio import _dct_matrix, _mel_dense, log_f32, quantise
from generator.dsp.cheader import fingerprint
from generator.dsp.host import HOST_CFLAGS, build_host_library, cross_compile
from generator.errors import InputError, ToolError
from tests.support.wavs import FixtureToolMissing, make_wavs, read_wav

I16 = npt.NDArray[np.int16]

CONFIGS = {
    "default": MfccConfig(),
    "25ms_10ms_dct_none": MfccConfig(window_ms=25, stride_ms=10, n_mels=32, mel_low_hz=60,
                                     mel_high_hz=7600, n_coeffs=13, n_frames=98, dct_norm="none",
                                     log_epsilon=1e-3, out_scale=4.0, out_zero_point=-5),
    "8khz_window_is_fft": MfccConfig(sample_rate=8000, window_ms=32, stride_ms=16, fft_size=256,
                                     n_mels=20, mel_low_hz=100, mel_high_hz=3800, n_coeffs=12,
                                     n_frames=30, out_scale=0.25, out_zero_point=-100),
}


# ---- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, I16]:
    try:
        paths = make_wavs(tmp_path_factory.mktemp("wavs"))
    except FixtureToolMissing as exc:
        pytest.fail(str(exc))
    return {name: read_wav(path) for name, path in paths.items()}


@dataclass
class CMfcc:
    lib: ctypes.CDLL
    cfg: MfccConfig

    def compute(self, pcm: I16 | None) -> npt.NDArray[np.int8]:
        out = np.zeros(self.cfg.output_shape, np.int8)
        ptr = None if pcm is None else np.ascontiguousarray(pcm).ctypes.data_as(ctypes.c_void_p)
        n = 0 if pcm is None else pcm.size
        self.lib.mcuf_mfcc_compute(ptr, ctypes.c_int32(n), out.ctypes.data_as(ctypes.c_void_p))
        return out

    def frame(self, samples: I16) -> npt.NDArray[np.int8]:
        out = np.zeros(self.cfg.n_coeffs, np.int8)
        self.lib.mcuf_mfcc_frame(_ptr(samples), out.ctypes.data_as(ctypes.c_void_p))
        return out

    def frame_float(self, samples: I16) -> npt.NDArray[np.float32]:
        out = np.zeros(self.cfg.n_coeffs, np.float32)
        self.lib.mcuf_mfcc_frame_float(_ptr(samples), out.ctypes.data_as(ctypes.c_void_p))
        return out


def _ptr(samples: I16) -> ctypes.c_void_p:
    arr = np.ascontiguousarray(samples, np.int16)
    return arr.ctypes.data_as(ctypes.c_void_p)


@pytest.fixture(scope="session")
def c_mfcc(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., CMfcc]:
    built: dict[tuple[MfccConfig, tuple[str, ...]], CMfcc] = {}

    def get(cfg: MfccConfig, extra_flags: tuple[str, ...] = ()) -> CMfcc:
        if (cfg, extra_flags) not in built:
            lib = build_host_library(tmp_path_factory.mktemp("mfcc_c"), cfg, extra_flags=extra_flags)
            built[cfg, extra_flags] = CMfcc(ctypes.CDLL(str(lib)), cfg)
        return built[cfg, extra_flags]

    return get


def padded_frames(pcm: I16, cfg: MfccConfig) -> I16:
    """(n_frames, window_len): the samples each frame reads, silence past the end of the clip."""
    clip = np.zeros(max(cfg.clip_samples, pcm.size), np.int16)
    clip[: pcm.size] = pcm
    return np.stack([clip[f * cfg.stride : f * cfg.stride + cfg.window_len]
                     for f in range(cfg.n_frames)])


# ---- configuration -------------------------------------------------------------------------------


@pytest.mark.unit
def test_defaults_are_the_micro_speech_geometry() -> None:
    cfg = MfccConfig()
    assert (cfg.window_len, cfg.stride, cfg.fft_size, cfg.n_bins) == (480, 320, 512, 257)
    assert cfg.output_shape == (49, 10)
    assert cfg.clip_samples == 15840  # 49 frames fit in a 1 s clip


@pytest.mark.unit
@pytest.mark.parametrize(("field", "value"), [
    ("sample_rate", True), ("sample_rate", 100), ("window_ms", 30.01), ("window_ms", 0),
    ("stride_ms", -20), ("fft_size", 500), ("fft_size", 256), ("n_mels", 0), ("n_mels", 200),
    ("mel_low_hz", -1.0), ("mel_high_hz", 9000.0), ("mel_high_hz", 10.0), ("log_epsilon", 0.0),
    ("dct_norm", "dct3"), ("n_coeffs", 41), ("n_frames", 0), ("out_scale", 0.0),
    ("out_scale", float("nan")), ("out_zero_point", 128), ("out_zero_point", 1.5),
])
def test_invalid_field_is_named(field: str, value: object) -> None:
    with pytest.raises(InputError) as info:
        MfccConfig(**{field: value})  # type: ignore[arg-type]
    assert info.value.message.startswith(f"MfccConfig.{field}:")
    assert info.value.hint


@pytest.mark.unit
def test_fft_size_hint_names_the_right_size() -> None:
    with pytest.raises(InputError) as info:
        MfccConfig(window_ms=40)
    assert "fft_size=1024" in info.value.hint


@pytest.mark.unit
def test_describe_gives_the_numbers() -> None:
    text = MfccConfig().describe()
    for part in ("16000 Hz", "480 samples", "(320)", "512-point FFT", "40 mel bands", "20-4000 Hz",
                 "1e-06", "ortho", "49 frames x 10 coefficients", "scale 0.6", "zero point 20"):
        assert part in text


@pytest.mark.unit
def test_fingerprint_follows_every_field() -> None:
    base = MfccConfig()
    assert fingerprint(base) == fingerprint(MfccConfig())
    assert fingerprint(base) != fingerprint(replace(base, out_zero_point=19))
    assert fingerprint(base) != fingerprint(replace(base, mel_high_hz=3999.0))


# ---- generated headers ---------------------------------------------------------------------------


def parse_tables(header: str) -> dict[str, list[str]]:
    found = re.findall(r"static const \w+ (\w+)\[(\d+)\] = \{(.*?)\};", header, re.DOTALL)
    tables = {}
    for name, size, body in found:
        items = [v.strip() for v in body.replace("\n", " ").split(",") if v.strip()]
        assert len(items) == int(size), name
        tables[name] = items
    return tables


@pytest.mark.unit
@pytest.mark.parametrize("name", list(CONFIGS))
def test_tables_header_carries_the_twins_exact_constants(name: str) -> None:
    cfg = CONFIGS[name]
    t = mfcc_tables(cfg)
    parsed = parse_tables(emit_tables_header(cfg))
    expect = {"window": t.window, "twiddle_re": t.twiddle_re, "twiddle_im": t.twiddle_im,
              "mel_weights": t.mel_weights, "dct": t.dct.ravel()}
    for key, values in expect.items():
        lits = parsed[f"mcuf_mfcc_{key}"]
        assert all(lit.endswith("f") for lit in lits)
        read_back = np.array([np.float32(lit[:-1]) for lit in lits], np.float32)
        np.testing.assert_array_equal(read_back.view(np.uint32), values.view(np.uint32))
    for key in ("mel_start", "mel_len", "mel_offset"):
        assert [int(v) for v in parsed[f"mcuf_mfcc_{key}"]] == getattr(t, key).tolist()


@pytest.mark.unit
def test_config_header_defines_the_geometry() -> None:
    cfg = CONFIGS["25ms_10ms_dct_none"]
    macros = dict(re.findall(r"#define (\w+) +(\S+)", emit_config_header(cfg)))
    assert macros["MCUF_MFCC_WINDOW_LEN"] == "400"
    assert macros["MCUF_MFCC_STRIDE"] == "160"
    assert macros["MCUF_MFCC_N_FRAMES"] == "98"
    assert macros["MCUF_MFCC_FFT_LOG2"] == "9"
    assert macros["MCUF_MFCC_OUT_SCALE"] == "4.0f"
    assert macros["MCUF_MFCC_FINGERPRINT"] == fingerprint(cfg)


@pytest.mark.unit
def test_emitted_headers_are_deterministic() -> None:
    cfg = CONFIGS["8khz_window_is_fft"]
    assert emit_tables_header(cfg) == emit_tables_header(replace(cfg))
    assert emit_config_header(cfg) == emit_config_header(replace(cfg))


# ---- the twin's numerics -------------------------------------------------------------------------


@pytest.mark.unit
def test_log_polynomial_is_accurate() -> None:
    x = np.concatenate([np.geomspace(1.2e-38, 3e38, 200_001, dtype=np.float32),
                        np.array([1.0, 2.0, 0.5, np.sqrt(2), np.nextafter(np.sqrt(2), 2)],
                                 np.float32)])
    ref = np.log(x.astype(np.float64))
    err = np.abs(log_f32(x).astype(np.float64) - ref)
    assert np.all(err <= 1e-6 + 4e-7 * np.abs(ref))  # a few float32 ulps of the result
    assert log_f32(np.array([1.0], np.float32))[0] == 0.0


def reference_mfcc(pcm: I16, cfg: MfccConfig) -> npt.NDArray[np.float64]:
    """Independent float64 path: NumPy rfft, dense filterbank, np.log, DCT matrix product."""
    frames = padded_frames(pcm, cfg).astype(np.float64) / 32768.0
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.window_len) / cfg.window_len)
    power = np.abs(np.fft.rfft(frames * window, cfg.fft_size)) ** 2
    logmel = np.log(power @ _mel_dense(cfg).T + np.float32(cfg.log_epsilon))
    out: npt.NDArray[np.float64] = logmel @ _dct_matrix(cfg).T
    return out


@pytest.mark.unit
@pytest.mark.parametrize("name", list(CONFIGS))
def test_twin_matches_float64_reference(name: str, wavs: dict[str, I16]) -> None:
    cfg = CONFIGS[name]
    off_by_one = total = 0
    for wav, pcm in wavs.items():
        ref = reference_mfcc(pcm, cfg)
        # float32 rounding error: the FFT's is relative to the frame's loudest bin, so quiet mel
        # bands in loud frames carry the most. Measured worst case 7.3e-4; bound 5e-3.
        np.testing.assert_allclose(mfcc_float(pcm, cfg), ref, rtol=0, atol=5e-3, err_msg=wav)
        # Quantised, the float64 reference may land on the other side of a rounding boundary:
        # allowed by at most 1, in at most 0.5% of values (measured: none).
        diff = np.abs(mfcc_features(pcm, cfg).astype(int)
                      - quantise(ref.astype(np.float32), cfg.out_scale, cfg.out_zero_point))
        assert diff.max() <= 1, wav
        off_by_one += int(np.count_nonzero(diff))
        total += diff.size
    assert off_by_one <= 0.005 * total


@pytest.mark.unit
def test_quantise_rounds_half_away_from_zero_and_saturates() -> None:
    v = np.array([0.0, 0.49, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.6, 127.5, -128.5, 1e9, -1e9],
                 np.float32)
    assert quantise(v, 1.0, 0).tolist() == [0, 0, 1, -1, 2, -2, 3, -3, 127, 127, -128, 127, -128]
    assert quantise(np.array([0.3, 118.0], np.float32), 0.6, 20).tolist() == [21, 127]


@pytest.mark.unit
@settings(max_examples=300, deadline=None)
@given(value=st.floats(-200.0, 200.0, width=32), scale=st.sampled_from([0.1, 0.6, 1.0, 3.7]),
       zp=st.integers(-128, 127))
def test_quantise_equals_textbook_rounding(value: float, scale: float, zp: int) -> None:
    v = float(np.float32(value) / np.float32(scale))
    expect = int(np.clip(np.sign(v) * np.floor(abs(v) + 0.5) + zp, -128, 127))
    assert int(quantise(np.array([value], np.float32), scale, zp)[0]) == expect


@pytest.mark.unit
def test_pcm_must_be_int16() -> None:
    with pytest.raises(InputError, match="int16"):
        mfcc_features(np.zeros(16000, np.float32))
    with pytest.raises(InputError, match="int16"):
        mfcc_features(np.zeros((2, 2, 16000), np.int16))


@pytest.mark.unit
def test_batch_and_padding_semantics(wavs: dict[str, I16]) -> None:
    cfg = MfccConfig()
    clips = np.stack([wavs["speech_yes_en-us_140"], wavs["white_noise"]])
    batch = mfcc_features(clips, cfg)
    assert batch.shape == (2, 49, 10)
    np.testing.assert_array_equal(batch[1], mfcc_features(clips[1], cfg))
    short = wavs["short_noise_0p4s"]
    padded = np.concatenate([short, np.zeros(16000 - short.size, np.int16)])
    np.testing.assert_array_equal(mfcc_features(short, cfg), mfcc_features(padded, cfg))
    silence = mfcc_float(np.zeros(0, np.int16), cfg)
    assert np.all(silence[:, 1:] == silence[0, 1:]) and np.all(silence[:, 0] == silence[0, 0])


@pytest.mark.unit
def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        mfcc_tables(MfccConfig()).window[0] = 1.0


# ---- C against the twin --------------------------------------------------------------------------


def assert_c_equals_twin(c: CMfcc, pcm: I16, label: str) -> None:
    cfg = c.cfg
    np.testing.assert_array_equal(c.compute(pcm), mfcc_features(pcm, cfg), err_msg=label)
    want = mfcc_float(pcm, cfg)
    got = np.stack([c.frame_float(f) for f in padded_frames(pcm, cfg)])
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32), err_msg=label)


@pytest.mark.hostc
@pytest.mark.parametrize("name", list(CONFIGS))
def test_c_equals_twin_exactly_on_wavs(name: str, wavs: dict[str, I16],
                                       c_mfcc: Callable[..., CMfcc]) -> None:
    c = c_mfcc(CONFIGS[name])
    for wav, pcm in wavs.items():
        assert_c_equals_twin(c, pcm, f"{name}/{wav}")


@pytest.mark.hostc
def test_c_streaming_frames_equal_whole_clip(wavs: dict[str, I16],
                                             c_mfcc: Callable[..., CMfcc]) -> None:
    c = c_mfcc(MfccConfig())
    pcm = wavs["speech_down_en-gb_200"]
    rows = np.stack([c.frame(f) for f in padded_frames(pcm, c.cfg)])
    np.testing.assert_array_equal(rows, c.compute(pcm))


@pytest.mark.hostc
def test_c_empty_and_null_clip_is_silence(c_mfcc: Callable[..., CMfcc]) -> None:
    c = c_mfcc(MfccConfig())
    silence = mfcc_features(np.zeros(16000, np.int16))
    np.testing.assert_array_equal(c.compute(None), silence)
    np.testing.assert_array_equal(c.compute(np.zeros(0, np.int16)), silence)


@pytest.mark.hostc
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 17000),
       amplitude=st.sampled_from([1.0, 40.0, 3000.0, 30000.0, 1e6]),
       name=st.sampled_from(list(CONFIGS)))
def test_c_equals_twin_exactly_on_random_clips(seed: int, n: int, amplitude: float, name: str,
                                               c_mfcc: Callable[..., CMfcc]) -> None:
    rng = np.random.default_rng(seed)
    pcm = np.clip(np.round(rng.normal(0, amplitude, n)), -32768, 32767).astype(np.int16)
    assert_c_equals_twin(c_mfcc(CONFIGS[name]), pcm, f"seed {seed}")


@pytest.mark.hostc
def test_c_equals_twin_with_fma_hardware_and_gnu_dialect(wavs: dict[str, I16],
                                                         c_mfcc: Callable[..., CMfcc]) -> None:
    """The pragma in mcuf_mfcc.c keeps GCC from fusing multiply-adds even when asked to."""
    c = c_mfcc(MfccConfig(), ("-std=gnu11", "-O3", "-march=native", "-ffp-contract=fast"))
    for wav in ("speech_yes_en-us_140", "chirp_20_7900hz", "white_noise", "speech_no_en-gb_200"):
        assert_c_equals_twin(c, wavs[wav], wav)


def gcc_object(dest: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    flags = [f for f in HOST_CFLAGS if f not in ("-shared", "-fPIC")]
    return subprocess.run(["gcc", *flags, *extra, "-c", f"-I{dest}", str(dest / "mcuf_mfcc.c"),
                           "-o", str(dest / "mcuf_mfcc.o")], check=False, capture_output=True,
                          text=True)


@pytest.mark.hostc
def test_tables_from_another_configuration_do_not_compile(tmp_path: Path) -> None:
    write_frontend_files(tmp_path, MfccConfig())
    assert gcc_object(tmp_path).returncode == 0
    (tmp_path / "mcuf_mfcc_tables.h").write_text(emit_tables_header(MfccConfig(out_zero_point=0)))
    res = gcc_object(tmp_path)
    assert res.returncode != 0 and "regenerate both" in res.stderr


@pytest.mark.hostc
def test_fast_math_is_refused(tmp_path: Path) -> None:
    write_frontend_files(tmp_path, MfccConfig())
    res = gcc_object(tmp_path, ("-ffast-math",))
    assert res.returncode != 0 and "without -ffast-math" in res.stderr


@pytest.mark.hostc
def test_build_failure_is_a_tool_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="failed"):
        build_host_library(tmp_path, MfccConfig(), extra_flags=("-DMCUF_MFCC_N_MELS=x",))


# ---- cross build ---------------------------------------------------------------------------------


@pytest.mark.cross
@pytest.mark.parametrize("name", list(CONFIGS))
def test_cross_compiles_for_cortex_m4f_float32_only(name: str, tmp_path: Path) -> None:
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc not found: apt-get install gcc-arm-none-eabi")
    # A GNU dialect with contraction on is what many firmware builds use: still no fused ops.
    (obj,) = cross_compile(tmp_path, CONFIGS[name], extra_flags=("-std=gnu11", "-ffp-contract=fast"))
    undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], check=True,
                               capture_output=True, text=True).stdout.split()
    # No libm, no heap, no double-precision helpers (__aeabi_d*): only these two.
    assert set(undefined) - {"U"} <= {"memcpy", "memset"}
    asm = subprocess.run(["arm-none-eabi-objdump", "-d", str(obj)], check=True,
                         capture_output=True, text=True).stdout
    assert not re.search(r"\bv(fma|fms|fnma|fnms|mla|mls|nmla|nmls)\.f32\b", asm)
    assert re.search(r"\bvmul\.f32\b", asm)  # hardware single-precision float is in use
