/* Keyword-spotting front-end: int16 PCM -> MFCC -> int8 model input.
 *
 * Configured by the generated mcuf_frontend_config.h (macros MCUF_MFCC_*) and mcuf_mfcc_tables.h
 * (window, FFT twiddles, mel filterbank, DCT matrix), both written by mcuforge from one MfccConfig.
 * generator/frontends/audio.py is the Python twin: same float32 arithmetic, same operation order,
 * same constants. mcuf_mfcc.c turns off fusing of multiply-adds itself (GCC and Clang); for bit-exact
 * agreement with the twin, do not compile it with -ffast-math.
 *
 * No initialisation and no heap: scratch buffers are static, so the functions are not reentrant.
 */
#ifndef MCUF_MFCC_H
#define MCUF_MFCC_H

#include <stdint.h>

#include "mcuf_frontend_config.h"

#ifndef MCUF_MFCC_ENABLED
#error "mcuf_frontend_config.h has no MFCC block: generate it from an MfccConfig"
#endif

/* int8 values per clip, laid out [MCUF_MFCC_N_FRAMES][MCUF_MFCC_N_COEFFS]. */
#define MCUF_MFCC_OUTPUT_SIZE (MCUF_MFCC_N_FRAMES * MCUF_MFCC_N_COEFFS)

#ifdef __cplusplus
extern "C" {
#endif

/* One frame: MCUF_MFCC_WINDOW_LEN samples in, MCUF_MFCC_N_COEFFS float coefficients out. */
void mcuf_mfcc_frame_float(const int16_t *samples, float *coeffs);

/* One frame, quantised to the model input: MCUF_MFCC_N_COEFFS int8 values out. For streaming, call
 * every MCUF_MFCC_STRIDE samples on the latest MCUF_MFCC_WINDOW_LEN samples. */
void mcuf_mfcc_frame(const int16_t *samples, int8_t *out);

/* A whole clip: frame f starts at sample f * MCUF_MFCC_STRIDE; samples at or past n_samples read as
 * silence. Writes MCUF_MFCC_OUTPUT_SIZE values. */
void mcuf_mfcc_compute(const int16_t *pcm, int32_t n_samples, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MCUF_MFCC_H */
