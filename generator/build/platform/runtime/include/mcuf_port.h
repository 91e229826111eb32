/* mcuf_port: the firmware's only contact with the host when running in QEMU.
 *
 * Output and exit go through Arm semihosting (a BKPT 0xAB trap that qemu-system-arm services when
 * started with -semihosting). Text is written with SYS_WRITE to the ":tt" handle, which QEMU maps to
 * its own stdout; mcuf_port_exit() uses SYS_EXIT_EXTENDED so that QEMU exits with the given code.
 * newlib's printf/puts also work: _write() for file descriptors 1 and 2 is routed here.
 *
 * Semihosting traps are fatal (HardFault) on a real board without a debugger attached: build this
 * file only for emulated targets.
 */
#ifndef MCUF_PORT_H
#define MCUF_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit code used when the CPU takes an unexpected exception (HardFault and friends). */
#define MCUF_PORT_FAULT_EXIT_CODE 134

/* Write len bytes to the host's stdout (stream 1) or stderr (stream 2). */
void mcuf_port_write(int stream, const char *data, size_t len);

/* Write a NUL-terminated string to the host's stdout, without adding a newline. */
void mcuf_port_print(const char *text);

/* Write a signed decimal integer to stream 1 (stdout) or 2 (stderr). */
void mcuf_port_write_int(int stream, int32_t value);

/* Write a signed decimal integer to the host's stdout. */
void mcuf_port_print_int(int32_t value);

/* Stop the emulator; qemu-system-arm exits with status code (0..255). */
__attribute__((noreturn)) void mcuf_port_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* MCUF_PORT_H */
