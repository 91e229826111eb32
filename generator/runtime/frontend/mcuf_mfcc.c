/* MFCC front-end; see mcuf_mfcc.h. Per frame: window -> FFT -> power -> mel -> log -> DCT -> int8. */
/* Bit-exactness with the Python twin needs every float product rounded before it is added: forbid
 * fusing a * b + c into a fused multiply-add (VFMA on a Cortex-M4F), whatever -ffp-contract or
 * C dialect the project builds with. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#ifdef __FAST_MATH__
#error "build mcuf_mfcc.c without -ffast-math: it reorders sums, and the features would differ from training"
#endif

#include "mcuf_mfcc.h"

#include <string.h>

#include "mcuf_mfcc_tables.h"

#if MCUF_MFCC_TABLES_FINGERPRINT != MCUF_MFCC_FINGERPRINT
#error "mcuf_mfcc_tables.h and mcuf_frontend_config.h come from different configurations: regenerate both"
#endif

#define PCM_SCALE (1.0f / 32768.0f)

static float s_re[MCUF_MFCC_FFT_SIZE];
static float s_im[MCUF_MFCC_FFT_SIZE];
static float s_power[MCUF_MFCC_N_BINS];
static float s_logmel[MCUF_MFCC_N_MELS];
static int16_t s_tail[MCUF_MFCC_WINDOW_LEN];

static uint32_t bit_reverse(uint32_t i)
{
    uint32_t r = 0;
    for (int b = 0; b < MCUF_MFCC_FFT_LOG2; ++b) {
        r = (r << 1) | (i & 1u);
        i >>= 1;
    }
    return r;
}

/* Windowed samples into s_re at bit-reversed positions, zero padded to FFT_SIZE. */
static void load_frame(const int16_t *samples)
{
    memset(s_re, 0, sizeof s_re);
    memset(s_im, 0, sizeof s_im);
    for (uint32_t i = 0; i < MCUF_MFCC_WINDOW_LEN; ++i)
        s_re[bit_reverse(i)] = (float)samples[i] * PCM_SCALE * mcuf_mfcc_window[i];
}

/* In-place iterative radix-2 decimation-in-time FFT on bit-reversed input. */
static void fft(void)
{
    for (uint32_t half = 1; half < MCUF_MFCC_FFT_SIZE; half *= 2) {
        const uint32_t step = MCUF_MFCC_FFT_SIZE / (2 * half);
        for (uint32_t start = 0; start < MCUF_MFCC_FFT_SIZE; start += 2 * half) {
            for (uint32_t k = 0; k < half; ++k) {
                const float wr = mcuf_mfcc_twiddle_re[k * step];
                const float wi = mcuf_mfcc_twiddle_im[k * step];
                const uint32_t a = start + k, b = a + half;
                const float tr = wr * s_re[b] - wi * s_im[b];
                const float ti = wr * s_im[b] + wi * s_re[b];
                s_re[b] = s_re[a] - tr;
                s_im[b] = s_im[a] - ti;
                s_re[a] = s_re[a] + tr;
                s_im[a] = s_im[a] + ti;
            }
        }
    }
    for (uint32_t k = 0; k < MCUF_MFCC_N_BINS; ++k)
        s_power[k] = s_re[k] * s_re[k] + s_im[k] * s_im[k];
}

/* Natural log of a positive normal float: x = m * 2^e with m in [sqrt(1/2), sqrt(2)], then
 * ln(m) = 2 s (1 + z/3 + z^2/5 + z^3/7 + z^4/9), s = (m-1)/(m+1), z = s^2. Used instead of logf so
 * that every C library and the Python twin give the same bits; same literals as audio.py. */
static float log_f32(float x)
{
    uint32_t bits;
    float m;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = (int32_t)((bits >> 23) & 0xFFu) - 127;
    bits = (bits & 0x007FFFFFu) | 0x3F800000u;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.41421354f) {
        m = m * 0.5f;
        e += 1;
    }
    const float s = (m - 1.0f) / (m + 1.0f);
    const float z = s * s;
    float p = 0.111111112f * z + 0.142857149f;
    p = p * z + 0.200000003f;
    p = p * z + 0.333333343f;
    p = p * z + 1.0f;
    return (float)e * 0.693147182f + (2.0f * s) * p;
}

static void log_mel(void)
{
    for (uint32_t m = 0; m < MCUF_MFCC_N_MELS; ++m) {
        const float *w = &mcuf_mfcc_mel_weights[mcuf_mfcc_mel_offset[m]];
        const float *p = &s_power[mcuf_mfcc_mel_start[m]];
        float acc = 0.0f;
        for (uint32_t j = 0; j < mcuf_mfcc_mel_len[m]; ++j)
            acc += w[j] * p[j];
        s_logmel[m] = log_f32(acc + MCUF_MFCC_LOG_EPSILON);
    }
}

/* Divide by the model's input scale, clamp, round half away from zero, add the zero point. */
static int8_t quantise(float value)
{
    float v = value / MCUF_MFCC_OUT_SCALE;
    if (v > 256.0f)
        v = 256.0f;
    else if (v < -256.0f)
        v = -256.0f;
    int32_t q = (int32_t)v;
    const float frac = v - (float)q;
    if (frac >= 0.5f)
        q += 1;
    else if (frac <= -0.5f)
        q -= 1;
    q += MCUF_MFCC_OUT_ZERO_POINT;
    return (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));
}

void mcuf_mfcc_frame_float(const int16_t *samples, float *coeffs)
{
    load_frame(samples);
    fft();
    log_mel();
    for (uint32_t c = 0; c < MCUF_MFCC_N_COEFFS; ++c) {
        const float *row = &mcuf_mfcc_dct[c * MCUF_MFCC_N_MELS];
        float acc = 0.0f;
        for (uint32_t m = 0; m < MCUF_MFCC_N_MELS; ++m)
            acc += row[m] * s_logmel[m];
        coeffs[c] = acc;
    }
}

void mcuf_mfcc_frame(const int16_t *samples, int8_t *out)
{
    float coeffs[MCUF_MFCC_N_COEFFS];
    mcuf_mfcc_frame_float(samples, coeffs);
    for (uint32_t c = 0; c < MCUF_MFCC_N_COEFFS; ++c)
        out[c] = quantise(coeffs[c]);
}

void mcuf_mfcc_compute(const int16_t *pcm, int32_t n_samples, int8_t *out)
{
    for (int32_t f = 0; f < MCUF_MFCC_N_FRAMES; ++f) {
        const int32_t start = f * MCUF_MFCC_STRIDE;
        const int16_t *frame = s_tail;
        if (start + MCUF_MFCC_WINDOW_LEN <= n_samples) {
            frame = pcm + start;
        } else {
            /* The clip ends before this frame does: copy what is there, pad with silence. */
            memset(s_tail, 0, sizeof s_tail);
            if (n_samples > start)
                memcpy(s_tail, pcm + start, (size_t)(n_samples - start) * sizeof s_tail[0]);
        }
        mcuf_mfcc_frame(frame, out + f * MCUF_MFCC_N_COEFFS);
    }
}
