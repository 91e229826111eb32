/* Sensor front-end (IMU, ADC): a window of int16 samples x axes -> int8 model input.
 *
 * Per axis k: q = round((x - offset[k]) * scale[k] / out_scale) + zero_point, clamped to int8,
 * computed in Q24 fixed point from mcuf_sensor_tables.h. Configured by the generated
 * mcuf_frontend_config.h (macros MCUF_SENSOR_*); generator/frontends/sensor.py is the Python twin
 * and agrees exactly. No initialisation, no heap, reentrant.
 */
#ifndef MCUF_SENSOR_H
#define MCUF_SENSOR_H

#include <stdint.h>

#include "mcuf_frontend_config.h"

#ifndef MCUF_SENSOR_ENABLED
#error "mcuf_frontend_config.h has no sensor block: generate it from a SensorConfig"
#endif

/* int8 values per window, laid out [MCUF_SENSOR_N_SAMPLES][MCUF_SENSOR_N_AXES]. */
#define MCUF_SENSOR_OUTPUT_SIZE (MCUF_SENSOR_N_SAMPLES * MCUF_SENSOR_N_AXES)

#ifdef __cplusplus
extern "C" {
#endif

/* One sample: MCUF_SENSOR_N_AXES values in and out (for filling a window as samples arrive). */
void mcuf_sensor_sample(const int16_t *axes, int8_t *out);

/* A whole window: MCUF_SENSOR_OUTPUT_SIZE values in and out, same layout. */
void mcuf_sensor_window(const int16_t *samples, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MCUF_SENSOR_H */
