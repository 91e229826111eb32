/* Small formatting helpers over port_print(): the firmware's output needs no printf. */
#ifndef APP_PRINT_H
#define APP_PRINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void app_print_int(int64_t value);
void app_print_uint(uint64_t value);

/* " <v0> <v1> ...": each value preceded by a space. */
void app_print_values(const int8_t *values, uint32_t count);

/* The standard per-inference line:
 *   inference <n> <unit> <count> scores <s0> <s1> ... <sN-1>
 * with the int8 output scores of the model, as parsed by mcuforge's tests and `mcuforge run`. */
void app_print_inference(uint32_t n, uint64_t cost, const int8_t *scores, uint32_t count);

#ifdef __cplusplus
}
#endif

#endif /* APP_PRINT_H */
