/* Semihosting output and exit for emulated targets; see mcuf_port.h. */
#include "mcuf_port.h"

enum {
    SEMIHOST_SYS_OPEN = 0x01,
    SEMIHOST_SYS_WRITE = 0x05,
    SEMIHOST_SYS_EXIT = 0x18,
    SEMIHOST_SYS_EXIT_EXTENDED = 0x20,
};

/* ADP_Stopped_ApplicationExit: the reason code for a normal program exit. */
#define SEMIHOST_APPLICATION_EXIT 0x20026u

/* Open modes of SYS_OPEN on ":tt": 4 ("w") selects stdout, 8 ("a") selects stderr. */
#define SEMIHOST_MODE_STDOUT 4u
#define SEMIHOST_MODE_STDERR 8u

static int semihost_call(uint32_t operation, const void *argument)
{
    register uint32_t r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}

static int open_console(uint32_t mode)
{
    static const char name[] = ":tt";
    const uint32_t block[3] = {(uint32_t)(uintptr_t)name, mode, (uint32_t)(sizeof name - 1u)};
    return semihost_call(SEMIHOST_SYS_OPEN, block);
}

static int console_handle(int stream)
{
    static int handles[2] = {-1, -1};
    const int slot = (stream == 2) ? 1 : 0;
    if (handles[slot] < 0) {
        handles[slot] = open_console(slot ? SEMIHOST_MODE_STDERR : SEMIHOST_MODE_STDOUT);
    }
    return handles[slot];
}

void mcuf_port_write(int stream, const char *data, size_t len)
{
    const int handle = console_handle(stream);
    if (handle < 0 || len == 0u) {
        return;
    }
    const uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)data, (uint32_t)len};
    (void)semihost_call(SEMIHOST_SYS_WRITE, block);
}

void mcuf_port_print(const char *text)
{
    size_t len = 0u;
    while (text[len] != '\0') {
        ++len;
    }
    mcuf_port_write(1, text, len);
}

void mcuf_port_write_int(int stream, int32_t value)
{
    char digits[12];
    size_t pos = sizeof digits;
    uint32_t magnitude = (value < 0) ? 0u - (uint32_t)value : (uint32_t)value;
    do {
        digits[--pos] = (char)('0' + (magnitude % 10u));
        magnitude /= 10u;
    } while (magnitude != 0u);
    if (value < 0) {
        digits[--pos] = '-';
    }
    mcuf_port_write(stream, &digits[pos], sizeof digits - pos);
}

void mcuf_port_print_int(int32_t value)
{
    mcuf_port_write_int(1, value);
}

void mcuf_port_exit(int code)
{
    const uint32_t block[2] = {SEMIHOST_APPLICATION_EXIT, (uint32_t)code};
    (void)semihost_call(SEMIHOST_SYS_EXIT_EXTENDED, block);
    /* Emulators without SYS_EXIT_EXTENDED: plain SYS_EXIT loses the code but still stops. */
    (void)semihost_call(SEMIHOST_SYS_EXIT, (const void *)(uintptr_t)SEMIHOST_APPLICATION_EXIT);
    for (;;) {
    }
}
