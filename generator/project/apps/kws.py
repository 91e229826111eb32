"""Keyword spotting: microphone -> audio ring buffer -> MFCC frame per stride -> model -> detection.

The firmware (``templates/projects/kws``) keeps the latest audio in a ring buffer, computes one MFCC
frame every ``stride`` samples into a ring of ``n_frames`` feature rows, and once the window is full
runs the model every ``inference_every`` frames on the rows in time order. Scores are averaged over
the last ``smoothing`` inferences; a class whose average reaches ``threshold`` is reported, and no
other detection is reported for ``suppression`` inferences.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from generator.boards import Board
from generator.codegen.schedule import IOSpec
from generator.dsp import MfccConfig, mfcc_features
from generator.errors import InputError
from generator.project.apps.common import (
    AppPlan,
    AppRequest,
    check_dims,
    check_int8,
    feature_dims,
    n_classes,
    prob_to_q,
    resolve_labels,
)
from generator.project.options import MODEL_QUANT_FIELDS, AppKind, KwsSettings, apply_overrides
from generator.project.replay import Replay, read_wav

PERIPHERAL = "microphone"
DEFAULT_REPLAY = ("1.5 s: 0.25 s of silence, a 1 s linear chirp from 300 Hz to 3 kHz at half full "
                  "scale with 10 ms fades, 0.25 s of silence")


def plan(model_in: IOSpec, model_out: IOSpec, board: Board, request: AppRequest) -> AppPlan:
    check_int8(model_in, "input")
    check_int8(model_out, "output")
    settings = apply_overrides(KwsSettings(), request.settings, "app")
    settings.validate()
    base = MfccConfig(out_scale=model_in.scale, out_zero_point=model_in.zero_point)
    mfcc: MfccConfig = apply_overrides(base, request.frontend, "frontend", MODEL_QUANT_FIELDS)
    check_dims(model_in, mfcc.output_shape, "kws",
               f"--n-frames {mfcc.n_frames}, --n-coeffs {mfcc.n_coeffs}", _shape_fix(model_in))
    labels = resolve_labels(request.labels, n_classes(model_out))
    replay = _replay(request, mfcc)
    _check_inferences(mfcc, settings, replay)
    return AppPlan(
        kind=AppKind.KWS, peripheral=PERIPHERAL, frontend=mfcc, settings=settings, labels=labels,
        replay=replay, buffers=_buffers(mfcc, settings, len(labels)),
        config=_config(mfcc, settings, labels, model_out),
    )


def _shape_fix(model_in: IOSpec) -> str:
    dims = feature_dims(model_in.shape)
    if len(dims) == 2:
        return (f"pass --n-frames {dims[0]} --n-coeffs {dims[1]} (with the window, stride and mel "
                "settings the model was trained with)")
    return "give a model whose input is frames x coefficients (e.g. 1x49x10x1)"


def _replay(request: AppRequest, mfcc: MfccConfig) -> Replay:
    if request.replay is None:
        data, source, what = default_audio(mfcc.sample_rate), "default", DEFAULT_REPLAY
    else:
        data, source = read_wav(request.replay, mfcc.sample_rate), request.replay.name
        what = f"{data.size} samples at {mfcc.sample_rate} Hz"
    if data.size < mfcc.clip_samples:
        raise InputError(f"{source}: {data.size} samples is shorter than one feature window "
                         f"({mfcc.clip_samples} samples)", "replay at least "
                         f"{mfcc.clip_samples / mfcc.sample_rate:.2f} s of audio")
    return Replay("audio", data, source, what)


def inference_count(mfcc: MfccConfig, settings: KwsSettings, samples: int) -> int:
    """Inferences the firmware's loop runs on ``samples`` of audio (the twin of its schedule)."""
    if mfcc.stride < 1 or samples < mfcc.window_len:
        return 0
    frames = (samples - mfcc.window_len) // mfcc.stride + 1
    if frames < mfcc.n_frames:
        return 0
    return (frames - mfcc.n_frames) // settings.inference_every + 1


def _check_inferences(mfcc: MfccConfig, settings: KwsSettings, replay: Replay) -> None:
    """A setting that would make the replayed firmware run no inference is refused here."""
    if inference_count(mfcc, settings, replay.data.size) < 1:
        raise InputError(
            f"{replay.source}: with a stride of {mfcc.stride} samples (stride_ms "
            f"{mfcc.stride_ms:g}) and {mfcc.n_frames} frames (n_frames) the replay's "
            f"{replay.data.size} samples give no inference",
            "lower --n-frames or --stride-ms, or replay more audio")


def default_audio(sample_rate: int) -> npt.NDArray[np.int16]:
    """The default replay: silence, a half-scale chirp 300 Hz -> 3 kHz, silence (1.5 s)."""
    t = np.arange(sample_rate, dtype=np.float64) / sample_rate
    phase = 2 * np.pi * (300.0 * t + (3000.0 - 300.0) / 2 * t**2)
    fade = np.minimum(1.0, np.minimum(t, 1.0 - t) / 0.01)
    out = np.zeros(sample_rate * 3 // 2, np.int16)
    start = sample_rate // 4
    out[start : start + sample_rate] = np.round(16384 * fade * np.sin(phase)).astype(np.int16)
    return out


def _buffers(mfcc: MfccConfig, settings: KwsSettings, classes: int) -> tuple[tuple[str, int], ...]:
    scratch = (2 * mfcc.fft_size + mfcc.n_bins + mfcc.n_mels) * 4 + mfcc.window_len * 2
    return (
        ("audio ring buffer", ring_samples(mfcc) * 2),
        ("MFCC frame samples", mfcc.window_len * 2),
        ("feature window", mfcc.n_frames * mfcc.n_coeffs),
        ("MFCC scratch (mcuf_mfcc.c)", scratch),
        ("score history", settings.smoothing * classes),
    )


def ring_samples(mfcc: MfccConfig) -> int:
    """One window plus one capture chunk (a stride) of samples."""
    return mfcc.window_len + mfcc.stride


def _config(mfcc: MfccConfig, settings: KwsSettings, labels: tuple[str, ...],
            model_out: IOSpec) -> dict[str, object]:
    return {
        "chunk": mfcc.stride,
        "ring": ring_samples(mfcc),
        "inference_every": settings.inference_every,
        "smoothing": settings.smoothing,
        "suppression": settings.suppression,
        "threshold": settings.threshold,
        "threshold_q": prob_to_q(settings.threshold, model_out),
        "num_classes": len(labels),
        "labels": list(labels),
        "out_zero_point": model_out.zero_point,
        "out_scale": model_out.scale,
        "describe": mfcc.describe(),
    }


def expected_inputs(plan: AppPlan) -> list[npt.NDArray[np.int8]]:
    """The twin of the kws main loop: the feature window of every inference, oldest frame first."""
    cfg = plan.frontend
    assert isinstance(cfg, MfccConfig) and isinstance(plan.settings, KwsSettings)
    pcm = plan.replay.data
    available = (pcm.size - cfg.window_len) // cfg.stride + 1
    out = []
    for frames in range(cfg.n_frames, available + 1):
        if (frames - cfg.n_frames) % plan.settings.inference_every == 0:
            first = (frames - cfg.n_frames) * cfg.stride
            out.append(mfcc_features(pcm[first : first + cfg.clip_samples], cfg))
    return out
