"""Make a synthetic keyword-spotting data set offline, in the Speech Commands v2 layout.

Every utterance is spoken by espeak-ng and resampled by sox to 16 kHz mono int16::

    DIR/yes/<speaker>_nohash_<n>.wav        one folder per word, 1 s clips
    DIR/left/...                            "unknown" words (any folder that is not a keyword)
    DIR/_background_noise_/*.wav            long noise recordings (silence and noise mixing)
    DIR/validation_list.txt                 clips of the validation speakers
    DIR/testing_list.txt                    clips of the held-out test speakers
    DIR/manifest.csv                        voice, speed, pitch, level and position of every clip

A *speaker* is an espeak-ng accent plus a voice variant (``en-gb-x-rp+m3``). The test speakers
are every variant in :data:`TEST_VARIANTS` under any accent, plus every voice of
:data:`TEST_ACCENTS`: no test voice is ever heard in training, which is as close to "held-out
speakers" as synthetic speech gets. Each rendition draws its own speed, pitch, level and position
inside the second (the time shift) and gets a faint noise floor; train.py mixes the background
noise in at training time, as the Speech Commands recipe does, and builds the "silence" class from
``_background_noise_``.

Usage::

    python synth_data.py --out out/kws_data                  # the full set (4608 clips, ~1.5 min)
    python synth_data.py --out /tmp/tiny --variants m1,f2 --accents en-us --renditions 1
    python synth_data.py --example example.wav --word yes    # one utterance, by a test voice
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import wave
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
CLIP = SAMPLE_RATE  # 1 s
KEYWORDS = ("yes", "no", "up", "down")
# The other words of Speech Commands v2: spoken as "unknown".
UNKNOWN_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "left", "right", "on", "off", "stop", "go", "bed", "bird", "cat", "dog", "happy",
                 "house", "marvin", "sheila", "tree", "wow", "learn", "follow", "forward",
                 "backward", "visual")
# espeak-ng's English accents (the mbrola voices need a separate install and are not used).
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
           "en-us-nyc", "en-029")
# Voice variants (espeak-ng-data/voices/!v): formant, pitch and breathiness presets.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "adam", "anika", "aunty", "belinda",
            "benjamin", "caleb", "david", "ed", "edward", "grandma", "grandpa", "john", "linda",
            "max", "paul", "steph", "travis", "victor")
TEST_VARIANTS = ("m3", "f2", "klatt4", "grandpa", "steph", "victor")
TEST_ACCENTS = ("en-029",)
VALIDATION_VARIANTS = ("m6", "f4", "klatt2", "linda")
EXAMPLE_VOICE = "en-029+m3"  # a test speaker

I16 = npt.NDArray[np.int16]
F64 = npt.NDArray[np.float64]


class ToolMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Rendition:
    """How one clip is spoken and placed; every field is recorded in manifest.csv."""

    word: str
    voice: str  # "<accent>+<variant>"
    wpm: int  # espeak-ng speed, words per minute
    pitch: int  # espeak-ng pitch, 0-99
    peak_dbfs: float  # level of the loudest sample
    position: float  # 0: word starts at 0 s, 1: word ends at 1 s
    floor_dbfs: float  # RMS of the pink noise floor
    seed: int

    @property
    def speaker(self) -> str:
        return self.voice


def split_of(voice: str) -> str:
    accent, variant = voice.split("+")
    if variant in TEST_VARIANTS or accent in TEST_ACCENTS:
        return "testing"
    return "validation" if variant in VALIDATION_VARIANTS else "training"


# ---- speech --------------------------------------------------------------------------------------


def require_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        raise ToolMissing(f"{' and '.join(missing)} not found; install with "
                          "`apt-get install espeak-ng sox`")


def _run(cmd: list[str], data: bytes | None = None) -> bytes:
    res = subprocess.run(cmd, input=data, capture_output=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): "
                           f"{res.stderr.decode(errors='replace').strip()}")
    return res.stdout


def speak(word: str, voice: str, wpm: int, pitch: int) -> I16:
    """espeak-ng's rendering of ``word``, resampled by sox to 16 kHz mono int16."""
    raw = _run(["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "--stdout", word])
    wav = _run(["sox", "-q", "-t", "wav", "-", "-t", "wav", "-r", str(SAMPLE_RATE), "-c", "1",
                "-b", "16", "-e", "signed-integer", "-"], raw)
    with wave.open(io.BytesIO(wav), "rb") as w:
        frames = w.readframes(w.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.int16)


def active_region(x: I16, rel: float = 0.02, margin: int = 160) -> I16:
    """The clip between the first and last sample above ``rel`` of its peak, plus 10 ms margins."""
    mag = np.abs(x.astype(np.int32))
    loud = np.flatnonzero(mag > rel * max(1, int(mag.max())))
    if loud.size == 0:
        return x[:0]
    return x[max(0, loud[0] - margin) : loud[-1] + margin + 1]


def pink_noise(n: int, rng: np.random.Generator) -> F64:
    """Unit-RMS noise with a 1/f power spectrum."""
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    return _unit(np.fft.irfft(spec / np.sqrt(f), n))


def _to_i16(x: F64) -> I16:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def place(word: I16, r: Rendition) -> I16:
    """Scale to the rendition's peak level, place it in a 1 s clip, add the noise floor."""
    rng = np.random.default_rng(r.seed)
    word = word[:CLIP]
    x = word.astype(np.float64)
    x *= 32767.0 * 10 ** (r.peak_dbfs / 20) / max(1.0, float(np.abs(x).max()))
    start = round(r.position * (CLIP - word.size))
    clip = np.zeros(CLIP, np.float64)
    clip[start : start + word.size] = x
    clip += pink_noise(CLIP, rng) * 32768.0 * 10 ** (r.floor_dbfs / 20)
    return _to_i16(clip)


def render(r: Rendition) -> I16:
    return place(active_region(speak(r.word, r.voice, r.wpm, r.pitch)), r)


# ---- background noise -------------------------------------------------------------------------


def _normalise(x: F64, rms_dbfs: float) -> I16:
    x = x - x.mean()
    return _to_i16(x / (np.sqrt(np.mean(x**2)) + 1e-12) * 32768.0 * 10 ** (rms_dbfs / 20))


def _unit(x: F64) -> F64:
    out: F64 = x / (np.sqrt(np.mean(x**2)) + 1e-12)
    return out


def _band(x: F64, lo: float, hi: float) -> F64:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1 / SAMPLE_RATE)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, x.size)


def noise_recordings(seconds: int, rng: np.random.Generator) -> dict[str, I16]:
    """Stand-ins for the Speech Commands ``_background_noise_`` files: stationary and hum-like."""
    n = seconds * SAMPLE_RATE
    t = np.arange(n) / SAMPLE_RATE
    hum = np.zeros(n)
    for k in range(1, 8):  # 50 Hz mains and its harmonics
        hum += np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 6.3)) / k
    fan = _band(rng.normal(size=n), 80, 1200)
    tap = _band(rng.normal(size=n), 800, 6000) * (1 + 0.4 * np.sin(2 * np.pi * 3.1 * t))
    return {
        "white_noise": _normalise(rng.normal(size=n), -20),
        "pink_noise": _normalise(pink_noise(n, rng), -20),
        "brown_noise": _normalise(np.cumsum(rng.normal(size=n)), -20),
        "running_tap": _normalise(tap, -22),
        "fan_and_hum": _normalise(_unit(fan) + 0.8 * _unit(hum), -24),
        "room_tone": _normalise(pink_noise(n, rng), -60),
    }


def babble(seconds: int, voices: Iterable[str], rng: np.random.Generator) -> I16:
    """Distant chatter: overlapping espeak-ng sentences without any keyword, low-passed."""
    n = seconds * SAMPLE_RATE
    mix = np.zeros(n, np.float64)
    filler = [w for w in ("the", "a", "then", "we", "saw", "it", "was", "later", "some", "people",
                          "kitchen", "table", "coffee", "morning", "window", "garden", "quite")]
    for voice in voices:
        text = " ".join(rng.choice(filler, size=40))
        speech = speak(text, voice, int(rng.integers(140, 200)), int(rng.integers(30, 70)))
        start = int(rng.integers(0, SAMPLE_RATE))
        reps = np.resize(speech.astype(np.float64), n - start)
        mix[start:] += reps
    return _normalise(_band(mix, 100, 3000), -26)


# ---- the data set -------------------------------------------------------------------------------


def renditions(words: Iterable[str], voices: Iterable[str], per_voice: int,
               rng: np.random.Generator) -> Iterator[Rendition]:
    for voice in voices:
        for word in words:
            for _ in range(per_voice):
                yield Rendition(word=word, voice=voice, wpm=int(rng.integers(110, 231)),
                                pitch=int(rng.integers(20, 81)),
                                peak_dbfs=float(rng.uniform(-24.0, -1.0)),
                                position=float(rng.uniform(0.0, 1.0)),
                                floor_dbfs=float(rng.uniform(-75.0, -55.0)),
                                seed=int(rng.integers(0, 2**31)))


def plan(keywords: Iterable[str], unknown: Iterable[str], voices: list[str], per_voice: int,
         unknown_per_voice: int, seed: int) -> list[Rendition]:
    """Every clip of the data set: each keyword ``per_voice`` times per voice, and
    ``unknown_per_voice`` words per voice drawn from ``unknown``."""
    rng = np.random.default_rng(seed)
    out = list(renditions(keywords, voices, per_voice, rng))
    unknown = list(unknown)
    for voice in voices:
        chosen = rng.choice(unknown, size=min(unknown_per_voice, len(unknown)), replace=False)
        out += renditions((str(w) for w in chosen), [voice], 1, rng)
    return out


def write_wav(path: Path, samples: I16) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


def clip_names(clips: list[Rendition]) -> list[str]:
    """``word/<speaker>_nohash_<n>.wav``, numbered per speaker and word (Speech Commands style)."""
    seen: dict[tuple[str, str], int] = {}
    names = []
    for r in clips:
        n = seen.get((r.word, r.voice), 0)
        seen[(r.word, r.voice)] = n + 1
        names.append(f"{r.word}/{r.voice}_nohash_{n}.wav")
    return names


def write_dataset(out: Path, clips: list[Rendition], noise_seconds: int, seed: int,
                  jobs: int) -> None:
    names = clip_names(clips)
    for word in {r.word for r in clips}:
        (out / word).mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        write_wav(out / names[i], render(clips[i]))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for done, _ in enumerate(pool.map(one, range(len(clips))), 1):
            if done % 500 == 0:
                print(f"  {done}/{len(clips)} clips", flush=True)
    _write_noise(out / "_background_noise_", clips, noise_seconds, seed)
    _write_lists(out, clips, names)


def _write_noise(dest: Path, clips: list[Rendition], seconds: int, seed: int) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    for name, x in noise_recordings(seconds, rng).items():
        write_wav(dest / f"{name}.wav", x)
    train_voices = sorted({r.voice for r in clips if split_of(r.voice) == "training"})
    if train_voices:  # chatter from training voices only
        picks = rng.choice(train_voices, size=min(6, len(train_voices)), replace=False)
        write_wav(dest / "chatter.wav", babble(seconds, (str(v) for v in picks), rng))


def _write_lists(out: Path, clips: list[Rendition], names: list[str]) -> None:
    for split in ("validation", "testing"):
        rows = [n for r, n in zip(clips, names, strict=True) if split_of(r.voice) == split]
        (out / f"{split}_list.txt").write_text("".join(f"{n}\n" for n in rows))
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "split", "word", "voice", "wpm", "pitch", "peak_dbfs", "position",
                    "floor_dbfs"])
        for r, n in zip(clips, names, strict=True):
            w.writerow([n, split_of(r.voice), r.word, r.voice, r.wpm, r.pitch,
                        f"{r.peak_dbfs:.2f}", f"{r.position:.3f}", f"{r.floor_dbfs:.1f}"])


def example(path: Path, word: str, voice: str) -> None:
    """One clearly spoken utterance near the middle of the second, for replay on the device."""
    r = Rendition(word=word, voice=voice, wpm=150, pitch=50, peak_dbfs=-6.0, position=0.5,
                  floor_dbfs=-70.0, seed=7)
    write_wav(path, render(r))


# ---- command line -------------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="data set folder (Speech Commands v2 layout)")
    p.add_argument("--words", type=_csv, default=list(KEYWORDS), help="keywords, comma separated")
    p.add_argument("--unknown-words", type=_csv, default=list(UNKNOWN_WORDS))
    p.add_argument("--accents", type=_csv, default=list(ACCENTS))
    p.add_argument("--variants", type=_csv, default=list(VARIANTS))
    p.add_argument("--renditions", type=int, default=3, help="clips per keyword and voice")
    p.add_argument("--unknown-per-voice", type=int, default=4, help="unknown clips per voice")
    p.add_argument("--noise-seconds", type=int, default=20, help="length of each noise file")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--jobs", type=int, default=2, help="parallel espeak-ng/sox processes")
    p.add_argument("--example", type=Path, help="write one utterance to this WAV and stop")
    p.add_argument("--word", default="yes", help="word of --example")
    p.add_argument("--voice", default=EXAMPLE_VOICE, help="voice of --example")
    args = p.parse_args(argv)
    if args.example is None and args.out is None:
        p.error("give --out DIR (a data set) or --example FILE.wav (one utterance)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_tools()
    if args.example is not None:
        example(args.example, args.word, args.voice)
        print(f"wrote {args.example}: '{args.word}' by {args.voice}")
        return 0
    voices = [f"{a}+{v}" for a in args.accents for v in args.variants]
    clips = plan(args.words, args.unknown_words, voices, args.renditions, args.unknown_per_voice,
                 args.seed)
    print(f"{len(clips)} clips from {len(voices)} voices into {args.out}", flush=True)
    write_dataset(args.out, clips, args.noise_seconds, args.seed, args.jobs)
    counts = {s: sum(split_of(r.voice) == s for r in clips)
              for s in ("training", "validation", "testing")}
    print("clips per split: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
