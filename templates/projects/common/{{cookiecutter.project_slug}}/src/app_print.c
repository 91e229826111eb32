/* Formatting helpers over port_print(); see app_print.h. */
#include "app_print.h"

#include "port.h"

void app_print_uint(uint64_t value)
{
    char digits[21];
    uint32_t pos = sizeof digits - 1u;
    digits[pos] = '\0';
    do {
        digits[--pos] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u);
    port_print(&digits[pos]);
}

void app_print_int(int64_t value)
{
    if (value < 0) {
        port_print("-");
        app_print_uint(0u - (uint64_t)value);
        return;
    }
    app_print_uint((uint64_t)value);
}

void app_print_values(const int8_t *values, uint32_t count)
{
    for (uint32_t i = 0; i < count; ++i) {
        port_print(" ");
        app_print_int(values[i]);
    }
}

void app_print_inference(uint32_t n, uint64_t cost, const int8_t *scores, uint32_t count)
{
    port_print("inference ");
    app_print_uint(n);
    port_print(" ");
    port_print(port_counter_unit());
    port_print(" ");
    app_print_uint(cost);
    port_print(" scores");
    app_print_values(scores, count);
    port_print("\n");
}
