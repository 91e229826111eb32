"""WAV fixtures made at test time: spoken words from espeak-ng resampled by sox, plus synthetic clips.

Every fixture is a 16 kHz mono 16-bit WAV file, so the C and the Python front-ends read the very same
samples. Speech needs ``espeak-ng`` and ``sox``; without them :func:`make_wavs` raises with the command
that installs them (the tests fail rather than skip).
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
WORDS = ("yes", "no", "up", "down")
# (espeak-ng voice, words per minute): two accents, a female variant, slow and fast.
VOICES = (("en-us", 140), ("en-gb", 200), ("en-us+f3", 110))

I16 = npt.NDArray[np.int16]


class FixtureToolMissing(RuntimeError):
    pass


def require_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise FixtureToolMissing(
            f"{' and '.join(missing)} not found: the front-end tests synthesise their speech "
            "fixtures with them; install with `apt-get install espeak-ng sox`")


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")


def speech_wav(dest: Path, word: str, voice: str, wpm: int, gain_db: float = 0.0) -> Path:
    """One second of ``word`` starting at 0.2 s, resampled to 16 kHz mono int16."""
    stem = f"speech_{word}_{voice.replace('+', '-')}_{wpm}" + (f"_gain{gain_db:+g}" if gain_db else "")
    raw, out = dest / f"{stem}.espeak.wav", dest / f"{stem}.wav"
    _run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(raw), word])
    effects = ["pad", "0.2", "1", "trim", "0", "1"]
    if gain_db:
        effects = ["gain", f"{gain_db:g}", *effects]  # sox clips (and warns) past full scale
    _run(["sox", "-q", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
          "-e", "signed-integer", str(out), *effects])
    raw.unlink()
    return out


def write_wav(path: Path, samples: I16) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return path


def read_wav(path: Path) -> I16:
    with wave.open(str(path), "rb") as w:
        if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, SAMPLE_RATE):
            raise ValueError(f"{path}: not 16 kHz mono 16-bit")
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def _clip16(x: npt.NDArray[np.float64]) -> I16:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _synthetic() -> dict[str, Callable[[], I16]]:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    rng = np.random.default_rng(1234)
    sweep_phase = 2 * np.pi * (20 * t + (7900 - 20) / 2 * t**2)
    return {
        "silence": lambda: np.zeros(SAMPLE_RATE, np.int16),
        "tone_440hz_half_scale": lambda: _clip16(16384 * np.sin(2 * np.pi * 440 * t)),
        "tone_1khz_quiet": lambda: _clip16(30 * np.sin(2 * np.pi * 1000 * t)),
        "chirp_20_7900hz": lambda: _clip16(20000 * np.sin(sweep_phase)),
        "white_noise": lambda: _clip16(rng.normal(0, 8000, SAMPLE_RATE)),
        "lsb_noise": lambda: rng.integers(-1, 2, SAMPLE_RATE).astype(np.int16),
        "sine_clipped_3x_full_scale": lambda: _clip16(3 * 32768 * np.sin(2 * np.pi * 300 * t)),
        "square_full_scale": lambda: np.where(np.sin(2 * np.pi * 100 * t) >= 0, 32767,
                                              -32768).astype(np.int16),
        "nyquist_full_scale": lambda: np.tile(np.array([32767, -32768], np.int16), SAMPLE_RATE // 2),
        "dc_max": lambda: np.full(SAMPLE_RATE, 32767, np.int16),
        "dc_min": lambda: np.full(SAMPLE_RATE, -32768, np.int16),
        "impulse": lambda: np.eye(1, SAMPLE_RATE, 8000, dtype=np.int16)[0] * 32767,
        "short_noise_0p4s": lambda: _clip16(rng.normal(0, 4000, SAMPLE_RATE * 2 // 5)),
        "long_tone_1p5s": lambda: _clip16(12000 * np.sin(2 * np.pi * 2500 * np.arange(
            SAMPLE_RATE * 3 // 2) / SAMPLE_RATE)),
    }


def make_wavs(dest: Path) -> dict[str, Path]:
    """Write every fixture into ``dest`` (speech first), returning name -> path."""
    require_tools()
    dest.mkdir(parents=True, exist_ok=True)
    paths = {}
    for word in WORDS:
        for voice, wpm in VOICES:
            path = speech_wav(dest, word, voice, wpm)
            paths[path.stem] = path
    for word, gain in (("yes", 18.0), ("down", -30.0)):  # clipped loud speech, very quiet speech
        path = speech_wav(dest, word, "en-us", 160, gain)
        paths[path.stem] = path
    for name, make in _synthetic().items():
        paths[name] = write_wav(dest / f"{name}.wav", make())
    return paths
