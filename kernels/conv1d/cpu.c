/* The fused CPU causal depthwise conv1d (+ SiLU): what causal-conv1d does for mamba_ssm on GPU.

Built and loaded by kernels/_native.py (see kernels/conv1d/cpu.py). fp32, time-major:
    x                      (batch, L, C) rows x_stride floats apart (a slice of a wider row)
    y, grad_y, grad_x      (batch, L, C) contiguous
    w, grad_w              (K, C)        tap k multiplies x[t - K + 1 + k]
    bias, grad_bias        (C,)          bias may be NULL
y[t] = silu(bias + sum_k w[k] x[t - K + 1 + k]) (without silu when asked), x before 0 read as 0.
One pass over time per block of W channels, the K taps and their sums in registers; the last
block may be partial (load_n / store_n).
*/
#include "../_vec.h"

static inline vec pre_activation(const float *x, int64_t x_stride, const float *w, int64_t C,
                                 int64_t K, int64_t t, vec bias, int64_t lanes) {
    vec acc = bias;
    for (int64_t k = 0; k < K; ++k) {
        const int64_t tt = t - K + 1 + k;
        if (tt >= 0) acc += load_n(w + k * C, lanes) * load_n(x + tt * x_stride, lanes);
    }
    return acc;
}

void conv1d_fwd(int64_t batch, int64_t length, int64_t C, int64_t K, int64_t x_stride,
                int64_t silu, const float *x, const float *w, const float *bias, float *y) {
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t c0 = 0; c0 < C; c0 += W) {
            const int64_t lanes = C - c0 < W ? C - c0 : W;
            const vec bv = bias ? load_n(bias + c0, lanes) : splat(0.0f);
            const float *xb = x + b * length * x_stride + c0;
            for (int64_t t = 0; t < length; ++t) {
                vec acc = pre_activation(xb, x_stride, w + c0, C, K, t, bv, lanes);
                if (silu) acc *= vsigmoid(acc);
                store_n(y + (b * length + t) * C + c0, acc, lanes);
            }
        }
}

/* grad_pre: workspace of (L, W) floats. grad_w and grad_bias accumulate (zeroed by the
   caller). */
void conv1d_bwd(int64_t batch, int64_t length, int64_t C, int64_t K, int64_t x_stride,
                int64_t silu, const float *x, const float *w, const float *bias,
                const float *grad_y, float *grad_x, float *grad_w, float *grad_bias,
                float *grad_pre) {
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t c0 = 0; c0 < C; c0 += W) {
            const int64_t lanes = C - c0 < W ? C - c0 : W;
            const vec bv = bias ? load_n(bias + c0, lanes) : splat(0.0f);
            const float *xb = x + b * length * x_stride + c0;
            vec gb = splat(0.0f);
            for (int64_t t = 0; t < length; ++t) { /* the grad before the activation */
                vec g = load_n(grad_y + (b * length + t) * C + c0, lanes);
                if (silu) {
                    const vec acc = pre_activation(xb, x_stride, w + c0, C, K, t, bv, lanes);
                    const vec sig = vsigmoid(acc);
                    g *= sig * (1.0f + acc * (1.0f - sig));
                }
                store(grad_pre + t * W, g);
                gb += g;
            }
            for (int64_t k = 0; k < K; ++k) { /* x[tt] feeds y[tt + K - 1 - k] through w[k] */
                vec gw = splat(0.0f);
                for (int64_t tt = 0; tt < length; ++tt) {
                    const int64_t t = tt + K - 1 - k;
                    if (t >= length) break;
                    gw += load_n(xb + tt * x_stride, lanes) * load(grad_pre + t * W);
                }
                store_n(grad_w + k * C + c0, load_n(grad_w + k * C + c0, lanes) + gw, lanes);
            }
            for (int64_t tt = 0; tt < length; ++tt) {
                vec gx = splat(0.0f);
                for (int64_t k = 0; k < K; ++k) {
                    const int64_t t = tt + K - 1 - k;
                    if (t < length) gx += load_n(w + k * C + c0, lanes) * load(grad_pre + t * W);
                }
                store_n(grad_x + (b * length + tt) * C + c0, gx, lanes);
            }
            if (grad_bias) store_n(grad_bias + c0, load_n(grad_bias + c0, lanes) + gb, lanes);
        }
}
