/* The fused CPU selective scan: one pass over time per block of W channels, the state in L1.

Built and loaded by kernels/_native.py (see kernels/selective_scan/cpu.py for the layouts it is
handed). Every tensor is fp32 and contiguous, time-major:
    u, delta, z, y and their grads         (batch, L, P)   P: channels, padded per group
    D, bias and their grads                (P,)            optional: NULL when absent
    A, grad_A                              (N, P)
    B, C, grad_B, grad_C                   (batch, L, G, N)
    starts                                 (batch, L / T, N, P)  the state at each chunk start
    last, grad_last                        (batch, N, P)
P = G * Pg with Pg a multiple of W, so that the W lanes of a block share one group g.
Per channel p: dt = softplus(delta + bias) (or delta + bias), h_t = exp(dt A) h_{t-1} + dt u B_t,
y = (C_t . h_t + D u) * silu(z): everything after the layout change happens here, since
PyTorch's transcendental ops on CPU cost more than this whole scan at the proxies' sizes.

The W = 16 lanes of a block are one `vec` (kernels/_vec.h).
*/
#include "../_vec.h"

/* The step size of one block at one step: delta + bias, through softplus when asked. */
static inline vec step_size(const float *delta, const float *bias, int softplus, vec *raw) {
    *raw = load(delta) + (bias ? load(bias) : splat(0.0f));
    return softplus ? vsoftplus(*raw) : *raw;
}

/* The bodies are inlined twice: for N = 16 (Mamba's usual d_state) the loops over n unroll and
   the state (or its grad) lives in 16 vector registers across steps; any other N reads it from
   L1. */
#define BODY static inline __attribute__((always_inline)) void
#define UNROLL _Pragma("GCC unroll 16")

BODY scan_fwd(int64_t batch, int64_t length, int64_t P, const int64_t N, int64_t G, int64_t T,
              int64_t softplus, const float *u, const float *delta, const float *A,
              const float *B, const float *C, const float *D, const float *z, const float *bias,
              float *y, float *starts, float *last, float *h) {
    const int64_t Pg = P / G, chunks = (length + T - 1) / T, blocks = P / W;
    for (int64_t b = 0; b < batch; ++b) {
        memset(h, 0, sizeof(float) * P * N);
        for (int64_t c = 0; c < chunks; ++c) {
            const int64_t t0 = c * T, t1 = t0 + T < length ? t0 + T : length;
            for (int64_t j = 0; j < blocks; ++j) {
                const int64_t p0 = j * W, g = p0 / Pg;
                float *hj = h + j * N * W; /* this block's state, (N, W) */
                float *start = starts + ((b * chunks + c) * N) * P + p0;
                vec hr[N];
                UNROLL for (int64_t n = 0; n < N; ++n) {
                    hr[n] = load(hj + n * W);
                    store(start + n * P, hr[n]);
                }
                for (int64_t t = t0; t < t1; ++t) {
                    const int64_t row = (b * length + t) * P + p0;
                    const float *Bt = B + ((b * length + t) * G + g) * N;
                    const float *Ct = C + ((b * length + t) * G + g) * N;
                    vec raw;
                    const vec dtv = step_size(delta + row, bias ? bias + p0 : 0, softplus, &raw);
                    const vec uv = load(u + row), du = dtv * uv;
                    vec acc = splat(0.0f);
                    UNROLL for (int64_t n = 0; n < N; ++n) {
                        hr[n] = vexp(dtv * load(A + n * P + p0)) * hr[n] + du * Bt[n];
                        acc += hr[n] * Ct[n];
                    }
                    if (D) acc += load(D + p0) * uv;
                    if (z) {
                        const vec zv = load(z + row);
                        acc *= zv * vsigmoid(zv);
                    }
                    store(y + row, acc);
                }
                UNROLL for (int64_t n = 0; n < N; ++n) store(hj + n * W, hr[n]);
            }
        }
        for (int64_t j = 0; j < blocks; ++j)
            for (int64_t n = 0; n < N; ++n)
                store(last + (b * N + n) * P + j * W, load(h + (j * N + n) * W));
    }
}

/* Forward: y, the state at every chunk start (for the backward), and the last state. */
void selective_scan_fwd(int64_t batch, int64_t length, int64_t P, int64_t N, int64_t G,
                        int64_t T, int64_t softplus, const float *u, const float *delta,
                        const float *A, const float *B, const float *C, const float *D,
                        const float *z, const float *bias, float *y, float *starts, float *last,
                        float *h /* workspace: P * N */) {
    if (N == 16)
        scan_fwd(batch, length, P, 16, G, T, softplus, u, delta, A, B, C, D, z, bias, y, starts,
                 last, h);
    else
        scan_fwd(batch, length, P, N, G, T, softplus, u, delta, A, B, C, D, z, bias, y, starts,
                 last, h);
}

BODY scan_bwd(int64_t batch, int64_t length, int64_t P, const int64_t N, int64_t G, int64_t T,
              int64_t softplus, const float *u, const float *delta, const float *A,
              const float *B, const float *C, const float *D, const float *z, const float *bias,
              const float *starts, const float *grad_y, const float *grad_last, float *grad_u,
              float *grad_delta, float *grad_A, float *grad_B, float *grad_C, float *grad_D,
              float *grad_z, float *grad_bias, float *work) {
    const int64_t Pg = P / G, chunks = (length + T - 1) / T, blocks = P / W;
    float *hs = work;                    /* (T, N, W): states of the chunk, for one block */
    float *decays = hs + T * N * W;      /* (T, N, W): their decays */
    float *dh = decays + T * N * W;      /* (blocks, N, W): grad of the state */
    float *partB = dh + P * N;           /* (G, T, N, W) lane partials of grad_B */
    float *partC = partB + G * T * N * W;
    float *gA = partC + G * T * N * W;   /* (N, W) grad_A of one block and chunk */
    float *scanned = gA + N * W;         /* (T, W) C . h of the chunk, before D and the gate */
    for (int64_t b = 0; b < batch; ++b) {
        for (int64_t j = 0; j < blocks; ++j)
            for (int64_t n = 0; n < N; ++n)
                store(dh + (j * N + n) * W,
                      grad_last ? load(grad_last + (b * N + n) * P + j * W) : splat(0.0f));
        for (int64_t c = chunks - 1; c >= 0; --c) {
            const int64_t t0 = c * T, t1 = t0 + T < length ? t0 + T : length;
            memset(partB, 0, sizeof(float) * 2 * G * T * N * W);
            for (int64_t j = 0; j < blocks; ++j) {
                const int64_t p0 = j * W, g = p0 / Pg;
                const float *start = starts + ((b * chunks + c) * N) * P + p0;
                const vec Dv = D ? load(D + p0) : splat(0.0f);
                const float *bias_j = bias ? bias + p0 : 0;
                float *dhj = dh + j * N * W;
                float *pB = partB + g * T * N * W, *pC = partC + g * T * N * W;
                vec gD = splat(0.0f), gbias = splat(0.0f);
                memset(gA, 0, sizeof(float) * N * W);
                /* recompute the chunk's states, decays and outputs */
                for (int64_t t = t0; t < t1; ++t) {
                    const int64_t row = (b * length + t) * P + p0, i = t - t0;
                    const float *Bt = B + ((b * length + t) * G + g) * N;
                    const float *Ct = C + ((b * length + t) * G + g) * N;
                    vec raw;
                    const vec dtv = step_size(delta + row, bias_j, softplus, &raw);
                    const vec du = dtv * load(u + row);
                    vec acc = splat(0.0f);
                    for (int64_t n = 0; n < N; ++n) {
                        const float *prev = i ? hs + ((i - 1) * N + n) * W : start + n * P;
                        vec a = vexp(dtv * load(A + n * P + p0));
                        vec hv = a * load(prev) + du * Bt[n];
                        store(decays + (i * N + n) * W, a);
                        store(hs + (i * N + n) * W, hv);
                        acc += hv * Ct[n];
                    }
                    store(scanned + i * W, acc);
                }
                /* walk it backwards, the state's grad in dr */
                vec dr[N];
                UNROLL for (int64_t n = 0; n < N; ++n) dr[n] = load(dhj + n * W);
                for (int64_t t = t1 - 1; t >= t0; --t) {
                    const int64_t row = (b * length + t) * P + p0, i = t - t0;
                    const float *Bt = B + ((b * length + t) * G + g) * N;
                    const float *Ct = C + ((b * length + t) * G + g) * N;
                    vec raw;
                    const vec dtv = step_size(delta + row, bias_j, softplus, &raw);
                    const vec uv = load(u + row), du = dtv * uv;
                    vec gy = load(grad_y + row);
                    if (z) { /* y = out * silu(z): grads of out and z */
                        const vec zv = load(z + row), sig = vsigmoid(zv);
                        const vec out = load(scanned + i * W) + Dv * uv;
                        store(grad_z + row, gy * out * sig * (1.0f + zv * (1.0f - sig)));
                        gy *= zv * sig;
                    }
                    gD += gy * uv;
                    vec gdu = splat(0.0f), gdt = splat(0.0f);
                    UNROLL for (int64_t n = 0; n < N; ++n) {
                        const int64_t at = (i * N + n) * W;
                        const float *prev = i ? hs + at - N * W : start + n * P;
                        const vec An = load(A + n * P + p0), a = load(decays + at);
                        const vec d = dr[n] + gy * Ct[n]; /* full grad of h_t */
                        store(pC + at, load(pC + at) + load(hs + at) * gy);
                        store(pB + at, load(pB + at) + d * du);
                        gdu += d * Bt[n];
                        const vec glog = d * a * load(prev); /* grad of dt * A */
                        gdt += glog * An;
                        store(gA + n * W, load(gA + n * W) + glog * dtv);
                        dr[n] = d * a;
                    }
                    store(grad_u + row, gdu * dtv + gy * Dv);
                    gdt += gdu * uv;
                    if (softplus) gdt *= vsigmoid(raw);
                    store(grad_delta + row, gdt);
                    gbias += gdt;
                }
                UNROLL for (int64_t n = 0; n < N; ++n) store(dhj + n * W, dr[n]);
                for (int64_t n = 0; n < N; ++n)
                    store(grad_A + n * P + p0, load(grad_A + n * P + p0) + load(gA + n * W));
                if (grad_D) store(grad_D + p0, load(grad_D + p0) + gD);
                if (grad_bias) store(grad_bias + p0, load(grad_bias + p0) + gbias);
            }
            /* the lanes of each group's partials, summed into grad_B and grad_C */
            for (int64_t g = 0; g < G; ++g)
                for (int64_t t = t0; t < t1; ++t)
                    for (int64_t n = 0; n < N; ++n) {
                        const float *pBn = partB + ((g * T + t - t0) * N + n) * W;
                        const float *pCn = partC + ((g * T + t - t0) * N + n) * W;
                        float sb = 0.0f, sc = 0.0f;
                        for (int k = 0; k < W; ++k) {
                            sb += pBn[k];
                            sc += pCn[k];
                        }
                        grad_B[((b * length + t) * G + g) * N + n] = sb;
                        grad_C[((b * length + t) * G + g) * N + n] = sc;
                    }
        }
    }
}

/* Backward, chunk by chunk from the end: each block's chunk of states (and decays, and outputs
   before the gate) is recomputed from its start into the workspace, then walked backwards
   carrying the state's grad. grad_B and grad_C sum over a group's channels: the lanes are
   summed per chunk in lane-wide partials, (T, N, W) per group, reduced at the chunk's end.
   grad_A, grad_D and grad_bias accumulate (the caller zeroes them). */
void selective_scan_bwd(int64_t batch, int64_t length, int64_t P, int64_t N, int64_t G,
                        int64_t T, int64_t softplus, const float *u, const float *delta,
                        const float *A, const float *B, const float *C, const float *D,
                        const float *z, const float *bias, const float *starts,
                        const float *grad_y, const float *grad_last, float *grad_u,
                        float *grad_delta, float *grad_A, float *grad_B, float *grad_C,
                        float *grad_D, float *grad_z, float *grad_bias,
                        float *work /* (2 + 2 G) T N W + P N + N W + T W */) {
    if (N == 16)
        scan_bwd(batch, length, P, 16, G, T, softplus, u, delta, A, B, C, D, z, bias, starts,
                 grad_y, grad_last, grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z,
                 grad_bias, work);
    else
        scan_bwd(batch, length, P, N, G, T, softplus, u, delta, A, B, C, D, z, bias, starts,
                 grad_y, grad_last, grad_u, grad_delta, grad_A, grad_B, grad_C, grad_D, grad_z,
                 grad_bias, work);
}

/* dst (batch, cols, rows) = src (batch, rows, cols) transposed, in 16 x 16 tiles that stay in L1
   (a plain strided copy of a large transposed tensor misses the cache on nearly every element). */
void transpose_last2(int64_t batch, int64_t rows, int64_t cols, const float *src, float *dst) {
    for (int64_t b = 0; b < batch; ++b) {
        const float *s = src + b * rows * cols;
        float *d = dst + b * rows * cols;
        for (int64_t r0 = 0; r0 < rows; r0 += W)
            for (int64_t c0 = 0; c0 < cols; c0 += W) {
                const int64_t r1 = r0 + W < rows ? r0 + W : rows;
                const int64_t c1 = c0 + W < cols ? c0 + W : cols;
                for (int64_t c = c0; c < c1; ++c)
                    for (int64_t r = r0; r < r1; ++r) d[c * rows + r] = s[r * cols + c];
            }
    }
}
