/* Image front-end; see mcuf_image.h. Per output pixel: sample (nearest or bilinear) -> colour -> LUT. */
#include "mcuf_image.h"

#include <stddef.h>

#include "mcuf_image_tables.h"

#if MCUF_IMAGE_TABLES_FINGERPRINT != MCUF_IMAGE_FINGERPRINT
#error "mcuf_image_tables.h and mcuf_frontend_config.h come from different configurations: regenerate both"
#endif

#define IN_C MCUF_IMAGE_IN_CHANNELS

/* The 8-bit channels of source pixel (x, y); RGB565 fields widened by bit replication. */
static void load_pixel(const uint8_t *frame, uint32_t x, uint32_t y, uint32_t px[IN_C])
{
    const uint8_t *p = frame + ((size_t)y * MCUF_IMAGE_IN_WIDTH + x) * MCUF_IMAGE_IN_BYTES_PER_PIXEL;
#if MCUF_IMAGE_IN_FORMAT == MCUF_PIXEL_GRAY8
    px[0] = p[0];
#elif MCUF_IMAGE_IN_FORMAT == MCUF_PIXEL_RGB888
    px[0] = p[0];
    px[1] = p[1];
    px[2] = p[2];
#else
#if MCUF_IMAGE_IN_FORMAT == MCUF_PIXEL_RGB565
    const uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8);
#else
    const uint32_t v = ((uint32_t)p[0] << 8) | (uint32_t)p[1];
#endif
    const uint32_t r = v >> 11, g = (v >> 5) & 0x3Fu, b = v & 0x1Fu;
    px[0] = (r << 3) | (r >> 2);
    px[1] = (g << 2) | (g >> 4);
    px[2] = (b << 3) | (b >> 2);
#endif
}

/* The resized pixel at output (ox, oy), still in the source's channels. */
static void sample(const uint8_t *frame, uint32_t ox, uint32_t oy, uint32_t px[IN_C])
{
#if MCUF_IMAGE_RESIZE_BILINEAR
    uint32_t p00[IN_C], p01[IN_C], p10[IN_C], p11[IN_C];
    load_pixel(frame, mcuf_image_x0[ox], mcuf_image_y0[oy], p00);
    load_pixel(frame, mcuf_image_x1[ox], mcuf_image_y0[oy], p01);
    load_pixel(frame, mcuf_image_x0[ox], mcuf_image_y1[oy], p10);
    load_pixel(frame, mcuf_image_x1[ox], mcuf_image_y1[oy], p11);
    const uint32_t fx = mcuf_image_fx[ox], fy = mcuf_image_fy[oy];
    for (int c = 0; c < IN_C; ++c) {
        /* 8.8 fixed-point weights: at most 255 * 256 * 256 + 32768, well inside 32 bits. */
        const uint32_t top = p00[c] * (256u - fx) + p01[c] * fx;
        const uint32_t bottom = p10[c] * (256u - fx) + p11[c] * fx;
        px[c] = (top * (256u - fy) + bottom * fy + 32768u) >> 16;
    }
#else
    load_pixel(frame, mcuf_image_x0[ox], mcuf_image_y0[oy], px);
#endif
}

void mcuf_image_preprocess(const uint8_t *frame, int8_t *out)
{
    for (uint32_t oy = 0; oy < MCUF_IMAGE_OUT_HEIGHT; ++oy) {
        for (uint32_t ox = 0; ox < MCUF_IMAGE_OUT_WIDTH; ++ox) {
            uint32_t px[IN_C];
            sample(frame, ox, oy, px);
#if MCUF_IMAGE_OUT_CHANNELS == 1 && IN_C == 3
            /* BT.601 luma with weights summing to 256. */
            *out++ = mcuf_image_lut[(77u * px[0] + 150u * px[1] + 29u * px[2] + 128u) >> 8];
#elif MCUF_IMAGE_OUT_CHANNELS == 3 && IN_C == 1
            const int8_t grey = mcuf_image_lut[px[0]];
            *out++ = grey;
            *out++ = grey;
            *out++ = grey;
#else
            for (int c = 0; c < IN_C; ++c)
                *out++ = mcuf_image_lut[px[c]];
#endif
        }
    }
}
