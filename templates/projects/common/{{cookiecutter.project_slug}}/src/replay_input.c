/* Replayed input; see replay_input.h. The data is a const array in flash (src/replay_data.h). */
#include "replay_input.h"

#include <string.h>

#include "replay_data.h"

#ifdef REPLAY_AUDIO_SAMPLES
static uint32_t audio_position;

int32_t replay_audio_read(int16_t *samples, int32_t max_samples)
{
    const uint32_t left = REPLAY_AUDIO_SAMPLES - audio_position;
    const uint32_t count = (uint32_t)max_samples < left ? (uint32_t)max_samples : left;
    memcpy(samples, &replay_audio[audio_position], count * sizeof samples[0]);
    audio_position += count;
    return (int32_t)count;
}
#endif

#ifdef REPLAY_FRAMES
static uint32_t frame_index;

int replay_camera_capture(uint8_t *frame, uint32_t frame_bytes)
{
    if (frame_bytes != REPLAY_FRAME_BYTES) {
        return -1;
    }
    if (frame_index >= REPLAY_FRAMES) {
        return 0;
    }
    memcpy(frame, replay_frames[frame_index++], REPLAY_FRAME_BYTES);
    return 1;
}
#endif

#ifdef REPLAY_IMU_SAMPLES
static uint32_t imu_index;

int replay_imu_read(int16_t *axes, uint32_t n_axes)
{
    if (n_axes != REPLAY_IMU_AXES) {
        return -1;
    }
    if (imu_index >= REPLAY_IMU_SAMPLES) {
        return 0;
    }
    memcpy(axes, replay_imu[imu_index++], REPLAY_IMU_AXES * sizeof axes[0]);
    return 1;
}
#endif
