/*
 * mcuforge int8 kernels: TFLite reference semantics, plain C99, no allocation.
 *
 * Conventions (the contract between the code generator and the kernels):
 *  - Feature maps are HWC (batch 1). A map is described by its height h, width w, channel count c and
 *    its pixel stride cs: element (y, x, ch) lives at  data[(y * w + x) * cs + ch].  A dense map has
 *    cs == c; cs > c lets a kernel read or write a channel slice of a wider map in place (the
 *    partial-execution planner relies on this).
 *  - Requantisation constants (multiplier, shift) are computed at compile time in Python exactly as
 *    TFLite computes them (generator/codegen/qparams.py) and follow TFLite's sign convention:
 *    shift > 0 is a left shift.
 *  - in_offset is the negated input zero point, out_offset the output zero point (TFLite's naming).
 *  - act_min/act_max are the fused-activation clamp in the output's quantised domain.
 */
#ifndef MCUF_KERNELS_H
#define MCUF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- fixed-point helpers (TFLite / gemmlowp semantics) ---------------------------------------- */
int32_t mcuf_srdhm(int32_t a, int32_t b);                 /* SaturatingRoundingDoublingHighMul */
int32_t mcuf_rdivpot(int32_t x, int32_t exponent);        /* RoundingDivideByPOT */
int32_t mcuf_mul_by_qm(int32_t x, int32_t multiplier, int32_t shift); /* MultiplyByQuantizedMultiplier */

/* Clears an int32 accumulator of n values (start of a partially executed channel-mixing op). */
void mcuf_zero_s32(int32_t n, int32_t *acc);

/* ---- CONV_2D ----------------------------------------------------------------------------------- */
typedef struct {
    int32_t in_h, in_w, in_c, in_cs;
    int32_t out_h, out_w, out_c, out_cs;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t in_offset, out_offset;
    int32_t act_min, act_max;
} mcuf_conv_params;

/* filter: dense [out_c][k_h][k_w][in_c]; bias/mult/shift: [out_c] (bias may be NULL). */
void mcuf_conv2d_s8(const mcuf_conv_params *p, const int8_t *in, const int8_t *filter,
                    const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

/* Partial-input form: adds sum((in + in_offset) * filter) over this slice's in_c channels into
 * acc, a dense int32 [out_h][out_w][out_c] buffer. out_cs, out_offset and act_* are ignored. */
void mcuf_conv2d_s8_acc(const mcuf_conv_params *p, const int8_t *in, const int8_t *filter,
                        int32_t *acc);

/* Finishes an accumulated conv: out = clamp(mul_by_qm(acc + bias) + out_offset).
 * acc is dense [n][c]; out has pixel stride out_cs. bias may be NULL. (An accumulated fully connected
 * op is finished with mcuf_requant_s32_f64 to match TFLite's reference kernel; see below.) */
void mcuf_requant_s32(int32_t n, int32_t c, const int32_t *acc, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, int32_t out_offset,
                      int32_t act_min, int32_t act_max, int8_t *out, int32_t out_cs);

/* ---- DEPTHWISE_CONV_2D ------------------------------------------------------------------------- */
typedef struct {
    int32_t in_h, in_w, in_c, in_cs;
    int32_t out_h, out_w, out_c, out_cs;   /* out_c == in_c * depth_mult */
    int32_t k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t depth_mult;
    int32_t in_offset, out_offset;
    int32_t act_min, act_max;
} mcuf_dwconv_params;

/* filter: dense [k_h][k_w][out_c]; output channel oc = ic * depth_mult + m. */
void mcuf_dwconv2d_s8(const mcuf_dwconv_params *p, const int8_t *in, const int8_t *filter,
                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

/* In-place forms (the output overwrites the input buffer `buf`; tmp is scratch):
 * 1x1, stride-1 convolution with out_cs <= in_cs, `block` pixels at a time (tmp: block * out_c bytes);
 * depthwise convolution with depth multiplier 1 and out_cs == in_cs, in `groups` channel groups
 * (tmp: out_h * out_w * ceil(in_c / groups) bytes); its filter is re-laid out group by group:
 * the group starting at channel c0 is a dense [k_h][k_w][group] block at filter + k_h * k_w * c0. */
void mcuf_conv1x1_inplace_s8(const mcuf_conv_params *p, int8_t *buf, const int8_t *filter,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *tmp, int32_t block);
void mcuf_dwconv2d_inplace_s8(const mcuf_dwconv_params *p, int8_t *buf, const int8_t *filter,
                              const int32_t *bias, const int32_t *mult, const int32_t *shift,
                              int8_t *tmp, int32_t groups);

/* ---- FULLY_CONNECTED --------------------------------------------------------------------------- */
typedef struct {
    int32_t batches, in_n, out_n;
    int32_t in_offset, out_offset;
    int32_t act_min, act_max;
    int32_t per_channel;                   /* 0: mult[0]/shift[0] for every output */
} mcuf_fc_params;

/* weights: dense [out_n][in_n]; in: [batches][in_n]; out: [batches][out_n].
 * Fixed-point requantisation with mult/shift, as TFLite Micro and TFLite's optimised kernels do.
 * TFLite's *reference* FULLY_CONNECTED rescales in double precision instead (mcuf_fc_s8_f64); the two
 * differ by 1 on rare outputs. */
void mcuf_fc_s8(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

/* FULLY_CONNECTED bit-exact with TFLite's reference kernel (BUILTIN_REF), per-tensor and per-channel:
 *   out = clamp(round_half_away((double)(acc + bias) * scale[k]) + out_offset, act_min, act_max)
 * with k = o if per_channel else 0, and scale[k] = (double)in_scale * (double)filter_scale[k]
 * / (double)out_scale computed at compile time in exactly that order (float32 scales widened to
 * double; emit the value exactly, e.g. as a C99 hex-float literal). One double multiply per output;
 * no libm needed. */
void mcuf_fc_s8_f64(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                    const int32_t *bias, const double *scale, int8_t *out);

/* Partial-input form: acc[b][o] += sum((in + in_offset) * w) over this slice's in_n inputs.
 * in_n is the slice's input count and weights the slice's own dense [out_n][in_n] block. */
void mcuf_fc_s8_acc(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights, int32_t *acc);

/* Finishes an accumulated fully connected op as mcuf_fc_s8_f64 does: acc dense [n][c], scale [c]
 * (repeat a per-tensor scale c times), out with pixel stride out_cs; bias may be NULL. */
void mcuf_requant_s32_f64(int32_t n, int32_t c, const int32_t *acc, const int32_t *bias,
                          const double *scale, int32_t out_offset, int32_t act_min,
                          int32_t act_max, int8_t *out, int32_t out_cs);

/* ---- pooling ----------------------------------------------------------------------------------- */
typedef struct {
    int32_t in_h, in_w, c, in_cs;
    int32_t out_h, out_w, out_cs;
    int32_t k_h, k_w, stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} mcuf_pool_params;

void mcuf_avgpool_s8(const mcuf_pool_params *p, const int8_t *in, int8_t *out);
void mcuf_maxpool_s8(const mcuf_pool_params *p, const int8_t *in, int8_t *out);

/* MEAN over H and W (global average pooling), TFLite's reference integer path:
 * out = clamp(mul_by_qm(sum(in) - in_zp * h * w, mult, shift) + out_zp). mult/shift already include
 * the division by h * w (TFLite folds it into the in_scale / out_scale multiplier at run time;
 * qparams_eltwise.mean_params does the same at compile time). */
typedef struct {
    int32_t in_h, in_w, c, in_cs, out_cs;
    int32_t in_zp, out_zp;
    int32_t mult, shift;
} mcuf_mean_params;

void mcuf_mean_hw_s8(const mcuf_mean_params *p, const int8_t *in, int8_t *out);

/* Reductions over any axes (mcuf_reduce.c). The input is addressed as kept dimensions kd with input
 * strides ks (in the output's order; the output is written densely) and reduced dimensions rd with
 * strides rs; unused dimensions have size 1 (the code generator merges neighbours of one kind).
 *  MCUF_REDUCE_SUM: MEAN and SUM, out = clamp(mul_by_qm(sum - in_zp * count, mult, shift) + out_zp)
 *                   (MEAN's 1 / count is folded into mult and shift, as TFLite does at run time);
 *  MCUF_REDUCE_MAX, MCUF_REDUCE_MIN: the raw extreme (equal input and output quantisation);
 *  MCUF_ARG_MAX, MCUF_ARG_MIN: the first position of the extreme along the reduced dimensions. */
#define MCUF_REDUCE_DIMS 4
enum { MCUF_REDUCE_SUM = 0, MCUF_REDUCE_MAX = 1, MCUF_REDUCE_MIN = 2, MCUF_ARG_MAX = 3,
       MCUF_ARG_MIN = 4 };
typedef struct {
    int32_t mode;
    int32_t kd[MCUF_REDUCE_DIMS], ks[MCUF_REDUCE_DIMS];
    int32_t rd[MCUF_REDUCE_DIMS], rs[MCUF_REDUCE_DIMS];
    int32_t count;
    int32_t in_zp, out_zp, mult, shift;
} mcuf_reduce_params;

void mcuf_reduce_s8(const mcuf_reduce_params *p, const int8_t *in, int8_t *out);
void mcuf_arg_s8_i32(const mcuf_reduce_params *p, const int8_t *in, int32_t *out);

/* ---- elementwise ------------------------------------------------------------------------------- */
/* An operand is addressed as data[pixel * ps + ch * chs]: ps = cs, chs = 1 for a full map;
 * ps = 0, chs = 1 for a per-channel vector broadcast over pixels; ps = 0, chs = 0 for a scalar. */
typedef struct {
    int32_t n, c;                                /* pixels, channels */
    int32_t in1_ps, in1_chs, in2_ps, in2_chs, out_cs;
    int32_t in1_offset, in2_offset;              /* negated zero points */
    int32_t left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift;
    int32_t out_mult, out_shift, out_offset;
    int32_t act_min, act_max;
} mcuf_add_params;

void mcuf_add_s8(const mcuf_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
/* The same sums with each input's rescaled term from a table of its 256 values (t[x + 128],
 * qparams_eltwise.add_tables); only the output is requantised per element. */
void mcuf_add_lut_s8(const mcuf_add_params *p, const int32_t *t1, const int32_t *t2,
                     const int8_t *in1, const int8_t *in2, int8_t *out);

typedef struct {
    int32_t n, c;
    int32_t in1_ps, in1_chs, in2_ps, in2_chs, out_cs;
    int32_t in1_offset, in2_offset;
    int32_t out_mult, out_shift, out_offset;
    int32_t act_min, act_max;
} mcuf_mul_params;

void mcuf_mul_s8(const mcuf_mul_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* MAXIMUM (is_max 1) and MINIMUM (0): the larger or smaller int8 value, as TFLite compares them
 * (raw values: the import requires both inputs and the output quantised alike). */
typedef struct {
    int32_t n, c;
    int32_t in1_ps, in1_chs, in2_ps, in2_chs, out_cs;
    int32_t is_max;
} mcuf_maxmin_params;

void mcuf_maxmin_s8(const mcuf_maxmin_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* PRELU, TFLite's reference_ops::BroadcastPrelu4DSlow: v = in + in_offset;
 * out = clamp(mul_by_qm(v, mult1, shift1) if v >= 0 else
 *             mul_by_qm(v * (alpha + alpha_offset), mult2, shift2), plus out_offset). */
typedef struct {
    int32_t n, c;
    int32_t in_ps, in_chs, alpha_ps, alpha_chs, out_cs;
    int32_t in_offset, alpha_offset, out_offset;
    int32_t mult1, shift1, mult2, shift2;
} mcuf_prelu_params;

void mcuf_prelu_s8(const mcuf_prelu_params *p, const int8_t *in, const int8_t *alpha, int8_t *out);

/* SQUARED_DIFFERENCE, TFLite Micro's int8 kernel: each input's rescaled term from a table of its 256
 * values (t[x + 128]: ((x - zp) << 7) times its multiplier below one), then
 * out = clamp(mul_by_qm((t1 - t2)^2, out_mult, out_shift) + out_offset). Operands as ADD's. */
typedef struct {
    int32_t n, c;
    int32_t in1_ps, in1_chs, in2_ps, in2_chs, out_cs;
    int32_t out_mult, out_shift, out_offset;
} mcuf_sqdiff_params;

void mcuf_sqdiff_s8(const mcuf_sqdiff_params *p, const int32_t *t1, const int32_t *t2,
                    const int8_t *in1, const int8_t *in2, int8_t *out);

/* ---- data movement ----------------------------------------------------------------------------- */
typedef struct {
    int32_t in_h, in_w, in_c, in_cs;
    int32_t pad_top, pad_bottom, pad_left, pad_right, pad_c_before, pad_c_after;
    int32_t out_cs;
    int8_t pad_value;
} mcuf_pad_params;

/* Output is (pad_top + in_h + pad_bottom) x (pad_left + in_w + pad_right) pixels of
 * pad_c_before + in_c + pad_c_after channels, pixel stride out_cs; every padded element is pad_value
 * (TFLite: the output zero point). in and out must not overlap. */
void mcuf_pad_s8(const mcuf_pad_params *p, const int8_t *in, int8_t *out);

/* Copies `rows` rows of `len` bytes from src (row pitch src_pitch) to dst (row pitch dst_pitch).
 * Used for RESHAPE (when not aliased) and CONCATENATION with equal quantisation. Overlap-safe within
 * a row, and across rows when they move apart (dst >= src, dst_pitch >= src_pitch: widening the
 * first input of a concatenation in place) or together (dst <= src, dst_pitch <= src_pitch),
 * given src_pitch >= len. */
void mcuf_copy_rows_s8(int32_t rows, int32_t len, const int8_t *src, int32_t src_pitch,
                       int8_t *dst, int32_t dst_pitch);

/* The same, requantising each value as TFLite's concatenation does when scales differ:
 * out = clamp(round(in * scale + bias) + out_zp) with scale = in_scale / out_scale,
 * bias = -in_zp * scale (float, as the reference kernel). */
void mcuf_requant_rows_s8(int32_t rows, int32_t len, const int8_t *src, int32_t src_pitch,
                          int8_t *dst, int32_t dst_pitch, float scale, float bias, int32_t out_zp);

/* ---- data movement without arithmetic (mcuf_layout.c) -------------------------------------------
 * TRANSPOSE, SLICE, STRIDED_SLICE, SPLIT, SPLIT_V, UNPACK, PACK, GATHER, TILE, DEPTH_TO_SPACE,
 * SPACE_TO_DEPTH, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND are strided walks over the input and the
 * output: for every index vector i below counts,
 *   dst[dst_offset + sum(i[d] * dst_strides[d])] = src[src_offset + sum(i[d] * src_strides[d])]
 * (strides in elements, negative or zero allowed). src and dst must not overlap. */
#define MCUF_COPY_MAX_DIMS 16
typedef struct {
    int32_t rank;                 /* 1..MCUF_COPY_MAX_DIMS */
    const int32_t *counts;        /* rank values, outermost first */
    const int32_t *src_strides;
    const int32_t *dst_strides;
    int32_t src_offset, dst_offset;
} mcuf_copy_params;

void mcuf_strided_copy_s8(const mcuf_copy_params *p, const int8_t *src, int8_t *dst);

/* n bytes of value (SPACE_TO_BATCH_ND's padding). */
void mcuf_fill_s8(int32_t n, int32_t value, int8_t *dst);

/* RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR of NHWC maps. The per-row and per-column source
 * indices (and bilinear weights) are computed at compile time as TFLite Micro computes them. */
typedef struct {
    int32_t batches, in_h, in_w, out_h, out_w, c;
} mcuf_resize_params;

/* out[b, y, x, :] = in[b, ys[y], xs[x], :]. */
void mcuf_resize_nearest_s8(const mcuf_resize_params *p, const int32_t *ys, const int32_t *xs,
                            const int8_t *in, int8_t *out);

/* TFLite's ResizeBilinearInteger: ys holds (y0, y1, wy) per output row and xs (x0, x1, wx) per
 * output column, weights in 1/1024; the four products are summed in int64 and divided by 2^20,
 * rounding halves away from zero. */
void mcuf_resize_bilinear_s8(const mcuf_resize_params *p, const int32_t *ys, const int32_t *xs,
                             const int8_t *in, int8_t *out);

/* ---- activations ------------------------------------------------------------------------------- */
typedef struct {
    int32_t rows, depth;
    int32_t input_beta_multiplier, input_beta_left_shift, diff_min;
} mcuf_softmax_params;

/* Output quantisation fixed by TFLite: scale 1/256, zero point -128. */
void mcuf_softmax_s8(const mcuf_softmax_params *p, const int8_t *in, int8_t *out);

/* LOG_SOFTMAX over the last dimension, TFLite Micro's int8 kernel (reference_ops::LogSoftmaxQuantized):
 * output quantisation fixed at scale 16/256, zero point 127. */
typedef struct {
    int32_t rows, depth;
    int32_t input_multiplier, input_left_shift;
    int32_t reverse_scaling_divisor, reverse_scaling_right_shift;
    int32_t diff_min;
} mcuf_log_softmax_params;

void mcuf_log_softmax_s8(const mcuf_log_softmax_params *p, const int8_t *in, int8_t *out);

/* TFLite's reference LOGISTIC for int8 is a 256-entry lookup table built at prepare time from the
 * input quantisation (float arithmetic); the table is built the same way at compile time
 * (generator/codegen/qparams_eltwise.py). table[(uint8_t)x] is the output for input x, i.e. the
 * order is 0, 1, ..., 127, -128, ..., -1. */
typedef struct {
    int32_t n;
    const int8_t *table;
} mcuf_logistic_params;

/* Output quantisation fixed by TFLite: scale 1/256, zero point -128. out may equal in. */
void mcuf_logistic_s8(const mcuf_logistic_params *p, const int8_t *in, int8_t *out);
/* The same lookup on n pixels of c channels with pixel strides in_cs and out_cs (a channel slice of
 * any of the table operators: LOGISTIC, RELU, RELU6, LEAKY_RELU, ABS, TANH, HARD_SWISH, RSQRT). */
void mcuf_lut_rows_s8(int32_t n, int32_t c, const int8_t *table, const int8_t *in, int32_t in_cs,
                      int8_t *out, int32_t out_cs);

/* L2_NORMALIZATION over the last dimension (rows of depth values), TFLite's integer kernel: output
 * in steps of 1/128 (zero point 0). mcuf_inv_sqrt_qm is TFLite's GetInvSqrtQuantizedMultiplierExp
 * (x >= 0; the shift is a left shift, TFLite's kReverseShift convention). */
void mcuf_inv_sqrt_qm(int32_t x, int32_t *multiplier, int32_t *shift);
void mcuf_l2norm_s8(int32_t rows, int32_t depth, int32_t in_zp, const int8_t *in, int8_t *out);

/* ---- float boundary ---------------------------------------------------------------------------- */
void mcuf_quantize_f32_s8(int32_t n, const float *in, float scale, int32_t zp, int8_t *out);
void mcuf_dequantize_s8_f32(int32_t n, const int8_t *in, float scale, int32_t zp, float *out);
/* int8 -> int8 QUANTIZE (a rescale): out = clamp(mul_by_qm(in - in_zp) + out_zp). */
void mcuf_requantize_s8(int32_t n, const int8_t *in, int32_t in_zp, int32_t mult, int32_t shift,
                        int32_t out_zp, int8_t *out);

/* ---- CONV_2D fast path (conv track: mcuf_conv_fast.c, mcuf_inplace.c) -------------------------
 * Bit-exact with mcuf_conv2d_s8 / mcuf_conv2d_s8_acc. The code generator prepares (see
 * mcuf_conv_fast.c and generator/codegen/conv_fast.py):
 *  wf      the filter in the fast layout: K = k_h * k_w * in_c padded to kp = 4 * ceil(K / 4) with
 *          zeros, output channels in pairs (group g of 4 values of the even channel, then of the
 *          odd one), an odd last channel plainly; bytes packed into little-endian 32-bit words
 *          (out_c * kp / 4 words);
 *  bias_f  bias[oc] + in_offset * sum(filter[oc]) (never NULL);
 *  rq      per output channel {multiplier, ctl}: ctl = right | left << 8 | 1 << 16 if a shorter
 *          requantisation is exact for the channel (TFLite's shift = left - right);
 *  cols    scratch, 4-byte aligned: kp int32 words (two pixels' q15 columns), then a stage: none
 *          for a 1x1 conv with stride 1 and no padding, k_w * in_c bytes (one filter row) for an
 *          undilated conv over a dense input with k_w * in_c a multiple of 4, else kp bytes (one
 *          pixel's gathered input) (conv_fast.cols_bytes). NULL where the plan grants none:
 *          a conv whose columns and largest stage fit in 256 bytes keeps them on the stack (the
 *          planner grants those no scratch); else a 1x1 conv reads its pixels directly; any
 *          other borrows as many first output
 *          rows as hold its columns where the output is dense and a row is left after them
 *          (conv_fast.borrows_output), computing those rows last tap by tap, or else sums every
 *          output tap by tap.
 * Padded taps read the input zero point, so they add nothing to (x + in_offset) * w sums. */
void mcuf_conv2d_fast_s8(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                         const int32_t *bias_f, const int32_t *rq, int8_t *out, int32_t *cols);

/* Partial-input form: acc (dense int32 [out_h][out_w][out_c]) += sum(x * w) over this slice's in_c
 * channels, padded taps reading the zero point; finish with mcuf_requant_s32 and the bias folded
 * over all input channels (bias_f). */
void mcuf_conv2d_fast_s8_acc(const mcuf_conv_params *p, const int8_t *in, const int32_t *wf,
                             int32_t *acc, int32_t *cols);

/* In-place 1x1 convolution as mcuf_conv1x1_inplace_s8, with the fast kernel and its constants. */
void mcuf_conv1x1_inplace_fast_s8(const mcuf_conv_params *p, int8_t *buf, const int32_t *wf,
                                  const int32_t *bias_f, const int32_t *rq, int8_t *tmp,
                                  int32_t block, int32_t *cols);

/* ---- DEPTHWISE_CONV_2D fast path (depthwise track: mcuf_dwconv_fast.c, mcuf_inplace.c) --------
 * Bit-exact with mcuf_dwconv2d_s8 where the code generator chooses it (depth multiplier 1, every
 * requantisation shift a right shift, bounded accumulators: generator/codegen/dw_fast.py). It reads one
 * int32 stream (4-byte aligned, mcuf_dwconv_fast_words(in_c, k_h * k_w) words): per group of four
 * channels, then a remaining pair, then an odd last channel, the folded biases
 * 2 (bias + in_offset * sum w), the doubled filter as int16 pairs per tap, and per channel
 * {multiplier, 2^(r-1) + (out_offset << r), r = -shift} (layout: mcuf_dwconv_fast.c).
 * Channel slices work as with mcuf_dwconv2d_s8 (in_cs, out_cs), with a stream for the slice's own
 * channels. */
int32_t mcuf_dwconv_fast_words(int32_t n, int32_t k);
void mcuf_dwconv2d_fast_s8(const mcuf_dwconv_params *p, const int8_t *in, const int32_t *stream,
                           int8_t *out);

/* In-place form as mcuf_dwconv2d_inplace_s8: group j (channels c0..c1) reads its own stream, the
 * groups' streams stored back to back. groups == 0: by rows instead, with the whole layer's stream,
 * for stride 1 and an output the input's size (out_cs == in_cs); tmp holds pad_top + 1 output rows
 * (in_w * in_cs bytes each): output row oy is copied over input row oy once no later row reads it. */
void mcuf_dwconv2d_inplace_fast_s8(const mcuf_dwconv_params *p, int8_t *buf, const int32_t *stream,
                                   int8_t *tmp, int32_t groups);

/* ---- FULLY_CONNECTED fast path (fully-connected track: mcuf_fc_packed.c) ----------------------
 * Bit-exact with mcuf_fc_s8 / mcuf_fc_s8_f64 / mcuf_fc_s8_acc. The code generator prepares
 * (generator/codegen/lower_fc.py):
 *  weights  packed for the inner loop: rows in blocks of MCUF_FC_ROWS, per block the rows' bytes of
 *           each group of four inputs in turn, then the rows' bytes of each of the in_n % 4 last
 *           inputs; the out_n % MCUF_FC_ROWS last rows plain (see mcuf_fc_packed.c);
 *  bias_f   bias[o] + in_offset * sum(w[o]) (never NULL). p->in_offset is not read.
 * A channel slice of the outputs is its own packed block (pack the slice's rows alone). */
#define MCUF_FC_ROWS 4

/* out = clamp(mul_by_qm(acc, mult[k], shift[k]) + out_offset), k = o if per_channel else 0:
 * TFLite Micro's FULLY_CONNECTED. */
void mcuf_fc_packed_s8(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                       const int32_t *bias_f, const int32_t *mult, const int32_t *shift,
                       int8_t *out);

/* The double-precision rescale of TFLite's reference kernel, as mcuf_fc_s8_f64. */
void mcuf_fc_packed_s8_f64(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                           const int32_t *bias_f, const double *scale, int8_t *out);

/* Partial-input form: acc[b][o] += sum(in * w) over this slice's in_n inputs (the weights of the
 * slice's columns, packed); finish with mcuf_requant_s32 (or mcuf_requant_s32_f64) and the bias
 * folded over all inputs. */
void mcuf_fc_packed_s8_acc(const mcuf_fc_params *p, const int8_t *in, const int8_t *weights,
                           int32_t *acc);

/* One value of mcuf_fc_s8_f64's rescale: clamp(round_half_away((double)acc * scale) + out_offset). */
int8_t mcuf_requant_f64_s8(int32_t acc, double scale, int32_t out_offset, int32_t act_min,
                           int32_t act_max);

/* ---- QUANTIZE between uint8 and int8 (uint8 model inputs and outputs: mcuf_requant_u8.c) ------
 * out = clamp(mul_by_qm(in - in_zp, mult, shift) + out_zp) to the output type's range, as
 * mcuf_requantize_s8 (TFLite's Requantize). */
void mcuf_requantize_u8_s8(int32_t n, const uint8_t *in, int32_t in_zp, int32_t mult,
                           int32_t shift, int32_t out_zp, int8_t *out);
void mcuf_requantize_s8_u8(int32_t n, const int8_t *in, int32_t in_zp, int32_t mult,
                           int32_t shift, int32_t out_zp, uint8_t *out);

/* ---- UNIDIRECTIONAL_SEQUENCE_LSTM (recurrent family: mcuf_lstm.c) --------------------------------
 * TFLite Micro's int8 LSTM (int8 activations and weights, int16 cell state), one batch row after
 * the other, each from a fresh state (hidden = its zero point, cell = 0). Gate order everywhere:
 * input, forget, cell, output. Per gate and unit j:
 *   pre = sat16(clamp16(mul_by_qm(wx_bias + wx . x_t, in_mult, in_shift))
 *             + clamp16(mul_by_qm(wh_bias + wh . h_{t-1}, rec_mult, rec_shift)))   (Q3.12)
 * (the recurrent term is 0 at t = 0, where h is all zero points), then sigmoid (tanh for the cell
 * gate) on int16 as TFLite Micro's interpolated table gives Q0.15. Then
 *   c = sat16(clamp16(mul_by_qm(f * c, forget_*)) + clamp16(mul_by_qm(i * g, input_*))), clipped
 *   to [-clip, clip] when clip >= 0, and h = clamp8(hid_zp + mul_by_qm(tanh(c) * o, hidden_*)).
 * Biases wx_bias/wh_bias have the input / hidden zero points folded in. h_t goes to out at (b, t)
 * and is read back from there as h_{t-1}; cell is scratch for one row: units int16. */
typedef struct {
    int32_t batches, steps, in_n, units;
    int32_t time_major;                    /* 1: in [steps][batches][in_n], else [batches][steps][in_n] */
    int32_t in_mult_i, in_shift_i, in_mult_f, in_shift_f, in_mult_g, in_shift_g, in_mult_o, in_shift_o;
    int32_t rec_mult_i, rec_shift_i, rec_mult_f, rec_shift_f, rec_mult_g, rec_shift_g;
    int32_t rec_mult_o, rec_shift_o;
    int32_t forget_mult, forget_shift, input_mult, input_shift, hidden_mult, hidden_shift;
    int32_t tanh_mult, tanh_shift;         /* tanh of the cell state: (c * tanh_mult) >> tanh_shift */
    int32_t clip;                          /* quantised cell clip; -1: none */
    int32_t hid_zp;
} mcuf_lstm_params;

/* wx: [4][units][in_n], wh: [4][units][units], wx_bias / wh_bias: [4][units]. */
void mcuf_lstm_s8(const mcuf_lstm_params *p, const int8_t *in, const int8_t *wx,
                  const int32_t *wx_bias, const int8_t *wh, const int32_t *wh_bias, int16_t *cell,
                  int8_t *out);

/* TFLite Micro's int16 sigmoid (in Q3.12 -> out Q0.15) and tanh (in: x * mult rounded right by
 * shift is Q3.12 x 3; out Q0.15), exposed for the tests. */
int16_t mcuf_sigmoid_s16(int16_t x);
int16_t mcuf_tanh_s16(int16_t x, int32_t mult, int32_t shift);

/* ---- TRANSPOSE_CONV (mcuf_tconv.c) --------------------------------------------------------------
 * TFLite Micro's int8 transposed convolution (reference_integer_ops::TransposeConv), in gather
 * form: TFLite scatters each input pixel into an int32 scratch of the whole output; here each
 * output pixel sums the same taps directly (input pixel iy feeds output row iy * stride_h -
 * pad_top + ky), so no scratch is needed. Integer addition is associative and import keeps every
 * sum inside int32, so the sums are TFLite's:
 *   acc = sum over the taps reaching (oy, ox) and input channels of (in + in_offset) * filter
 *   out = clamp(mul_by_qm(acc + bias[oc], mult[oc], shift[oc]) + out_offset, act_min, act_max)
 * filter: dense [out_c][k_h][k_w][in_c]; bias may be NULL. */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t in_offset, out_offset;
    int32_t act_min, act_max;
} mcuf_tconv_params;

void mcuf_tconv2d_s8(const mcuf_tconv_params *p, const int8_t *in, const int8_t *filter,
                     const int32_t *bias, const int32_t *mult, const int32_t *shift, int8_t *out);

/* ---- SVDF (mcuf_svdf.c) ---------------------------------------------------------------------------
 * TFLite Micro's integer SVDF (int8 input, feature weights and output; int16 state and time
 * weights) as one invoke of a fresh interpreter: the state is reset every inference, so only the
 * time weights' newest column counts (wt_last: [filters]). Per batch row b and unit u:
 *   acc = bias[u] + sum over its rank filters f of wt_last[f] *
 *         clamp16(mul_by_qm(sum((in - in_zp) * wf[f]), mult1, shift1))
 * (an int8 state: the value clamped to int8, plus state_zp stored as int8, which wraps, minus
 * state_zp; wt_last holds the int8 time weights widened)
 *   out = clamp8(mul_by_qm(acc, mult2, shift2) + out_zp)
 * wf: [filters][in_n]; filters = units * rank. acc wraps in int32 (two's complement), as TFLite
 * Micro's addition does. */
typedef struct {
    int32_t batches, in_n, filters, rank;
    int32_t in_zp;
    int32_t mult1, shift1, mult2, shift2;
    int32_t out_zp;
    int32_t state_bits, state_zp;          /* 16 and 0, or 8 and the int8 state's zero point */
} mcuf_svdf_params;

void mcuf_svdf_s8(const mcuf_svdf_params *p, const int8_t *in, const int8_t *wf,
                  const int16_t *wt_last, const int32_t *bias, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MCUF_KERNELS_H */
