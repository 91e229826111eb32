/* UNIDIRECTIONAL_SEQUENCE_LSTM with TFLite Micro's integer arithmetic (int8 activations and weights,
 * int16 gates and cell state): see mcuf_kernels.h for the formulas. Every unit's four gates, its
 * cell and its hidden value are computed together (they read only x_t, h_{t-1} and that unit's
 * cell), so one batch row needs units int16 of scratch and the hidden state lives in the output. */
#include "mcuf_kernels.h"

/* sigmoid(i / 24) in unsigned 0.16 fixed point, i = 0..255, as TFLite's integer kernels tabulate
 * it (both the int16 sigmoid and, through tanh(x) = 2 sigmoid(2x) - 1, the int16 tanh read it). */
static const uint16_t sigmoid_q16[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149,
    40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370,
    60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522,
    65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531,
    65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535,
};

static int32_t sat16(int32_t v)
{
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

static int8_t sat8(int32_t v)
{
    return (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
}

/* |v| in units of 1/2^frac_bits of the table's step, interpolated linearly between two entries. */
static uint32_t table_at(uint32_t a, uint32_t frac_bits)
{
    uint32_t i = a >> frac_bits;
    uint32_t frac = a & ((1u << frac_bits) - 1u);
    uint32_t lo = sigmoid_q16[i];
    return (lo << frac_bits) + frac * ((uint32_t)sigmoid_q16[i + 1] - lo);
}

int16_t mcuf_sigmoid_s16(int16_t x)
{
    /* Q3.12 times 3 is x / 24 in steps of 1/512 of a table entry */
    int32_t v = (int32_t)x * 3;
    uint32_t a = (uint32_t)(v < 0 ? -v : v);
    uint32_t r = (a >> 9) >= 255u ? (uint32_t)0x7FFF << 10 : table_at(a, 9);
    /* 1 - sigmoid(|x|) below zero; then back to Q0.15, rounding */
    r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
    return (int16_t)(r >> 10);
}

int16_t mcuf_tanh_s16(int16_t x, int32_t mult, int32_t shift)
{
    int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    int32_t v = ((int32_t)x * mult + round) >> shift;   /* 2x / 24 in steps of 1/256 */
    uint32_t a = (uint32_t)(v < 0 ? -v : v);
    int32_t r = (a >> 8) >= 255u ? (int32_t)0xFFFF << 8 : (int32_t)table_at(a, 8);
    /* 2 sigmoid(2|x|) - 1, mirrored below zero, then Q0.15 */
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return (int16_t)(r >> 8);
}

static int32_t dot_s8(const int8_t *w, const int8_t *x, int32_t n)
{
    int32_t acc = 0;
    for (int32_t k = 0; k < n; k++) {
        acc += (int32_t)w[k] * (int32_t)x[k];
    }
    return acc;
}

/* bias + w . x requantised to the gates' Q3.12 (the sum wraps as TFLite's int32 arithmetic; the
 * import checks keep the true value inside int32) */
static int32_t gate_product(const int8_t *w, const int32_t bias, const int8_t *x, int32_t n,
                            int32_t mult, int32_t shift)
{
    int32_t acc = (int32_t)((uint32_t)bias + (uint32_t)dot_s8(w, x, n));
    return sat16(mcuf_mul_by_qm(acc, mult, shift));
}

void mcuf_lstm_s8(const mcuf_lstm_params *p, const int8_t *in, const int8_t *wx,
                  const int32_t *wx_bias, const int8_t *wh, const int32_t *wh_bias, int16_t *cell,
                  int8_t *out)
{
    const int32_t nb = p->batches, nt = p->steps, ni = p->in_n, ns = p->units;
    const int32_t in_mult[4] = {p->in_mult_i, p->in_mult_f, p->in_mult_g, p->in_mult_o};
    const int32_t in_shift[4] = {p->in_shift_i, p->in_shift_f, p->in_shift_g, p->in_shift_o};
    const int32_t rec_mult[4] = {p->rec_mult_i, p->rec_mult_f, p->rec_mult_g, p->rec_mult_o};
    const int32_t rec_shift[4] = {p->rec_shift_i, p->rec_shift_f, p->rec_shift_g, p->rec_shift_o};
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *prev = NULL;   /* h_{t-1}; NULL at t = 0, where every product with it is 0 */
        for (int32_t j = 0; j < ns; j++) {
            cell[j] = 0;
        }
        for (int32_t t = 0; t < nt; t++) {
            const int32_t row = p->time_major ? t * nb + b : b * nt + t;
            const int8_t *x = in + (size_t)row * (size_t)ni;
            int8_t *h = out + (size_t)row * (size_t)ns;
            for (int32_t j = 0; j < ns; j++) {
                int16_t gate[4];
                for (int32_t g = 0; g < 4; g++) {
                    const int32_t k = g * ns + j;
                    int32_t pre = gate_product(wx + (size_t)k * (size_t)ni, wx_bias[k], x, ni,
                                               in_mult[g], in_shift[g]);
                    if (prev != NULL) {
                        pre = sat16(pre + gate_product(wh + (size_t)k * (size_t)ns, wh_bias[k],
                                                       prev, ns, rec_mult[g], rec_shift[g]));
                    }
                    gate[g] = g == 2 ? mcuf_tanh_s16((int16_t)pre, 3, 0)
                                     : mcuf_sigmoid_s16((int16_t)pre);
                }
                int32_t c = sat16(mcuf_mul_by_qm((int32_t)gate[1] * (int32_t)cell[j],
                                                 p->forget_mult, p->forget_shift));
                c = sat16(c + sat16(mcuf_mul_by_qm((int32_t)gate[0] * (int32_t)gate[2],
                                                   p->input_mult, p->input_shift)));
                if (p->clip >= 0) {
                    c = c > p->clip ? p->clip : (c < -p->clip ? -p->clip : c);
                }
                cell[j] = (int16_t)c;
                const int16_t tc = mcuf_tanh_s16((int16_t)c, p->tanh_mult, p->tanh_shift);
                h[j] = sat8(p->hid_zp + mcuf_mul_by_qm((int32_t)tc * (int32_t)gate[3],
                                                       p->hidden_mult, p->hidden_shift));
            }
            prev = h;
        }
    }
}
