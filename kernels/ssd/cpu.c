/* The fused CPU SSD: the recurrence run step by step, one head and W head dims at a time, with
that slice of the state, (N, W), in L1.

Built and loaded by kernels/_native.py (see kernels/ssd/cpu.py for the layouts it is handed).
Every tensor is fp32 and contiguous, time-major:
    x, y, grad_x, grad_y               (batch, L, H, Pp)   Pp: head dims padded to whole blocks
    dt, grad_dt                        (batch, L, H)       after bias and softplus
    A, grad_A                          (H,)
    B, C, grad_B, grad_C               (batch, L, G, N)    head h reads group h / (H / G)
    initial, final, grad_initial,
    grad_final                         (batch, H, N, Pp)   initial, grad_final may be NULL
    starts                             (batch, L / T, H, N, Pp)  the state at each chunk start
Per head: a_t = exp(min(dt_t A, 0)), S_t = a_t S_{t-1} + dt_t B_t x_t^T, y_t = S_t^T C_t. The
decay is clamped at 1 like the chunked backends do. D and z stay in PyTorch (the models gate
in their own norm).

A step is N multiply-adds on W lanes for the state and N for the output, and one scalar exp:
where the chunked form spends (Q, Q) matrices per chunk, this spends nothing on them.
*/
#include "../_vec.h"

static inline float decay_of(float dt, float A) {
    float x = dt * A;
    return vexp(splat(x < 0.0f ? x : 0.0f))[0];
}

void ssd_fwd(int64_t batch, int64_t length, int64_t H, int64_t Pp, int64_t N, int64_t G,
             int64_t T, const float *x, const float *dt, const float *A, const float *B,
             const float *C, const float *initial, float *y, float *starts, float *final,
             float *S /* workspace: H * N * Pp */) {
    const int64_t chunks = (length + T - 1) / T, blocks = Pp / W, per_group = H / G;
    for (int64_t b = 0; b < batch; ++b) {
        if (initial)
            memcpy(S, initial + b * H * N * Pp, sizeof(float) * H * N * Pp);
        else
            memset(S, 0, sizeof(float) * H * N * Pp);
        for (int64_t c = 0; c < chunks; ++c) {
            const int64_t t0 = c * T, t1 = t0 + T < length ? t0 + T : length;
            memcpy(starts + (b * chunks + c) * H * N * Pp, S, sizeof(float) * H * N * Pp);
            for (int64_t h = 0; h < H; ++h) {
                const int64_t g = h / per_group;
                for (int64_t j = 0; j < blocks; ++j) {
                    float *Sj = S + h * N * Pp + j * W; /* rows n of W lanes, stride Pp */
                    for (int64_t t = t0; t < t1; ++t) {
                        const int64_t row = ((b * length + t) * H + h) * Pp + j * W;
                        const float *Bt = B + ((b * length + t) * G + g) * N;
                        const float *Ct = C + ((b * length + t) * G + g) * N;
                        const float dtv = dt[(b * length + t) * H + h];
                        const float a = decay_of(dtv, A[h]);
                        const vec dx = load(x + row) * dtv;
                        vec acc = splat(0.0f);
                        for (int64_t n = 0; n < N; ++n) {
                            vec s = load(Sj + n * Pp) * a + dx * Bt[n];
                            store(Sj + n * Pp, s);
                            acc += s * Ct[n];
                        }
                        store(y + row, acc);
                    }
                }
            }
        }
        memcpy(final + b * H * N * Pp, S, sizeof(float) * H * N * Pp);
    }
}

static inline float lane_sum(vec v) {
    float s = 0.0f;
    for (int k = 0; k < W; ++k) s += v[k];
    return s;
}

/* Backward, chunk by chunk from the end: each (head, block)'s chunk of states is recomputed
   from its start, then walked backwards carrying the state's grad dS. grad_B and grad_C sum
   over a group's heads and head dims: lane-wide partials per chunk, (G, T, N, W), reduced at the
   chunk's end. grad_dt and grad_A sum over lanes per step; grad_A accumulates (zeroed by the
   caller). */
void ssd_bwd(int64_t batch, int64_t length, int64_t H, int64_t Pp, int64_t N, int64_t G,
             int64_t T, const float *x, const float *dt, const float *A, const float *B,
             const float *C, const float *starts, const float *grad_y, const float *grad_final,
             float *grad_x, float *grad_dt, float *grad_A, float *grad_B, float *grad_C,
             float *grad_initial, float *work /* T N W + 2 G T N W */) {
    const int64_t chunks = (length + T - 1) / T, blocks = Pp / W, per_group = H / G;
    float *hs = work;                  /* (T, N, W): states of the chunk, one head and block */
    float *partB = hs + T * N * W;     /* (G, T, N, W) lane partials of grad_B */
    float *partC = partB + G * T * N * W;
    float *dS = grad_initial;          /* (batch, H, N, Pp): the state's grad, carried back */
    for (int64_t b = 0; b < batch; ++b) {
        float *dSb = dS + b * H * N * Pp;
        if (grad_final)
            memcpy(dSb, grad_final + b * H * N * Pp, sizeof(float) * H * N * Pp);
        else
            memset(dSb, 0, sizeof(float) * H * N * Pp);
        for (int64_t t = 0; t < length; ++t)
            for (int64_t h = 0; h < H; ++h) grad_dt[(b * length + t) * H + h] = 0.0f;
        for (int64_t c = chunks - 1; c >= 0; --c) {
            const int64_t t0 = c * T, t1 = t0 + T < length ? t0 + T : length;
            memset(partB, 0, sizeof(float) * 2 * G * T * N * W);
            for (int64_t h = 0; h < H; ++h) {
                const int64_t g = h / per_group;
                float *pB = partB + g * T * N * W, *pC = partC + g * T * N * W;
                float gA = 0.0f;
                for (int64_t j = 0; j < blocks; ++j) {
                    const float *start = starts + (b * chunks + c) * H * N * Pp + h * N * Pp + j * W;
                    float *dSj = dSb + h * N * Pp + j * W;
                    for (int64_t t = t0; t < t1; ++t) { /* recompute the chunk's states */
                        const int64_t i = t - t0, row = ((b * length + t) * H + h) * Pp + j * W;
                        const float *Bt = B + ((b * length + t) * G + g) * N;
                        const float dtv = dt[(b * length + t) * H + h];
                        const float a = decay_of(dtv, A[h]);
                        const vec dx = load(x + row) * dtv;
                        for (int64_t n = 0; n < N; ++n) {
                            const vec prev = i ? load(hs + ((i - 1) * N + n) * W)
                                               : load(start + n * Pp);
                            store(hs + (i * N + n) * W, prev * a + dx * Bt[n]);
                        }
                    }
                    for (int64_t t = t1 - 1; t >= t0; --t) { /* walk it backwards */
                        const int64_t i = t - t0, row = ((b * length + t) * H + h) * Pp + j * W;
                        const float *Bt = B + ((b * length + t) * G + g) * N;
                        const float *Ct = C + ((b * length + t) * G + g) * N;
                        const float dtv = dt[(b * length + t) * H + h];
                        const float a = decay_of(dtv, A[h]);
                        const vec xv = load(x + row), dx = xv * dtv, gy = load(grad_y + row);
                        vec gdx = splat(0.0f), glog = splat(0.0f);
                        for (int64_t n = 0; n < N; ++n) {
                            const int64_t at = (i * N + n) * W;
                            const vec prev = i ? load(hs + at - N * W) : load(start + n * Pp);
                            const vec d = load(dSj + n * Pp) + gy * Ct[n]; /* grad of S_t */
                            store(pC + at, load(pC + at) + load(hs + at) * gy);
                            store(pB + at, load(pB + at) + d * dx);
                            gdx += d * Bt[n];
                            glog += d * prev;
                            store(dSj + n * Pp, d * a);
                        }
                        store(grad_x + row, gdx * dtv);
                        /* d a / d(dt A) = a where dt A < 0, else 0 (the clamp) */
                        const float gl = dtv * A[h] < 0.0f ? lane_sum(glog) * a : 0.0f;
                        grad_dt[(b * length + t) * H + h] += lane_sum(gdx * xv) + gl * A[h];
                        gA += gl * dtv;
                    }
                }
                grad_A[h] += gA;
            }
            for (int64_t g = 0; g < G; ++g) /* lanes, heads and blocks summed per group */
                for (int64_t t = t0; t < t1; ++t)
                    for (int64_t n = 0; n < N; ++n) {
                        const int64_t at = ((g * T + t - t0) * N + n) * W;
                        grad_B[((b * length + t) * G + g) * N + n] = lane_sum(load(partB + at));
                        grad_C[((b * length + t) * G + g) * N + n] = lane_sum(load(partC + at));
                    }
        }
    }
}
