/* Visual-wake-words front-end: camera frame -> centre crop -> resize -> colour -> int8 model input.
 *
 * Configured by the generated mcuf_frontend_config.h (macros MCUF_IMAGE_*) and mcuf_image_tables.h
 * (source rows/columns and weights of the resize, and the pixel -> int8 lookup table), both written
 * by mcuforge from one ImageConfig. Integer arithmetic only; generator/frontends/image.py is the
 * Python twin and agrees exactly. No initialisation, no heap, reentrant.
 */
#ifndef MCUF_IMAGE_H
#define MCUF_IMAGE_H

#include <stdint.h>

#include "mcuf_frontend_config.h"

#ifndef MCUF_IMAGE_ENABLED
#error "mcuf_frontend_config.h has no image block: generate it from an ImageConfig"
#endif

/* Values of MCUF_IMAGE_IN_FORMAT. RGB565 is little-endian in memory; RGB565_BE has the high byte
 * first; RGB888 is R, G, B bytes. */
#define MCUF_PIXEL_GRAY8 0
#define MCUF_PIXEL_RGB565 1
#define MCUF_PIXEL_RGB565_BE 2
#define MCUF_PIXEL_RGB888 3

/* int8 values per model input, laid out [OUT_HEIGHT][OUT_WIDTH][OUT_CHANNELS], RGB order. */
#define MCUF_IMAGE_OUTPUT_SIZE (MCUF_IMAGE_OUT_HEIGHT * MCUF_IMAGE_OUT_WIDTH * MCUF_IMAGE_OUT_CHANNELS)

#ifdef __cplusplus
extern "C" {
#endif

/* frame: MCUF_IMAGE_FRAME_BYTES bytes, row-major; out: MCUF_IMAGE_OUTPUT_SIZE values. */
void mcuf_image_preprocess(const uint8_t *frame, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MCUF_IMAGE_H */
