/* port.h: every board-specific call the app makes, and nothing else.
 *
 * One implementation per target; the app (main.c) is the same everywhere:
 *   src/port_replay.c         emulated boards in QEMU: replayed input, semihosting output
 *   src/port_arduino.cpp      real boards on the Arduino core (PDM, Arduino_OV767X, Arduino_LSM9DS1)
 *   zephyr/src/port_zephyr.c  Zephyr (DMIC, video and sensor APIs)
 * A port implements the capture call of its app (audio, camera or IMU), live from the board's
 * peripheral or from src/replay_data.h (see src/replay_input.h). Its entry point (main(), or
 * setup() on Arduino) calls port_init(), then app_main(), then port_exit() with its result.
 */
#ifndef PORT_H
#define PORT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The app loop, in main.c. Returns an exit code when the input ends (a replay); with a live
 * sensor it never returns. */
int app_main(void);

/* Set up output, the counter and the app's sensor. Returns 0, or a negative error code. */
int port_init(void);

/* Audio (kws): reads up to max_samples mono 16-bit samples at the front-end's sample rate,
 * waiting until at least one is available. Returns the number read, 0 once the input has ended,
 * or a negative error code. */
int32_t port_audio_read(int16_t *samples, int32_t max_samples);

/* Camera (vww): fills frame with one frame (APP_FRAME_BYTES bytes in the front-end's pixel
 * format). Returns 1, 0 once the input has ended, or a negative error code. */
int port_camera_capture(uint8_t *frame);

/* IMU (sensor): one sample of APP_IMU_AXES accelerations in counts of 1/APP_COUNTS_PER_G g.
 * Returns 1, 0 once the input has ended, or a negative error code. */
int port_imu_read(int16_t *axes);

/* Writes text to the console (semihosting, serial port or Zephyr console). */
void port_print(const char *text);

/* A free-running count for measuring the cost of an inference, and the name of its unit: CPU
 * cycles on a board; retired instructions in QEMU run with -icount shift=0. */
uint64_t port_counter(void);
const char *port_counter_unit(void);

/* Ends the program: QEMU exits with this code; a board prints it and halts. */
void port_exit(int code);

#ifdef __cplusplus
}
#endif

#endif /* PORT_H */
