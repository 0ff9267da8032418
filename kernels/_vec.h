/* Vector helpers shared by the C kernels of the cpu backend (see kernels/_native.py).

`vec` is W = 16 floats as one GCC/Clang vector: the compiler maps it onto whatever the CPU has
(one AVX-512 register, two AVX2 ones, four NEON ones). exp and log are polynomials written on
vectors, so that they vectorise as well.
*/
#ifndef NAS_VEC_H
#define NAS_VEC_H
#include <stdint.h>
#include <string.h>

#define W 16 /* lanes: channels (or head dims) handled together */
typedef float vec __attribute__((vector_size(4 * W), aligned(4)));
typedef int32_t ivec __attribute__((vector_size(4 * W), aligned(4)));

static inline vec load(const float *p) { return *(const vec *)p; }
static inline void store(float *p, vec v) { *(vec *)p = v; }
static inline vec splat(float x) { return (vec){0} + x; }

/* The first n <= W lanes only (the rest read as 0 and are not written): a partial block. */
static inline vec load_n(const float *p, int64_t n) {
    if (n == W) return load(p);
    float buf[W] = {0};
    memcpy(buf, p, sizeof(float) * n);
    return load(buf);
}
static inline void store_n(float *p, vec v, int64_t n) {
    if (n == W) {
        store(p, v);
        return;
    }
    float buf[W];
    store(buf, v);
    memcpy(p, buf, sizeof(float) * n);
}

/* exp(x) lane by lane for x <= 88: Cody-Waite reduction to r in [-ln2/2, ln2/2], a degree-6
   Taylor polynomial (relative error < 2e-7 there), and 2^n built in the exponent bits. Below
   -87.3 the result flushes to 0, which the recurrence reads as a full decay; NaN stays NaN. */
static inline vec vexp(vec x) {
    ivec low = x < -87.3f, high = x > 88.0f;
    x = (vec)(((ivec)x & ~low) | ((ivec)splat(-87.3f) & low));
    x = (vec)(((ivec)x & ~high) | ((ivec)splat(88.0f) & high));
    /* round to nearest by the 1.5 * 2^23 trick */
    vec n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    vec r = x - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
    vec p = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666667e-1f +
            r * (4.1666668e-2f + r * (8.3333338e-3f + r * 1.3888889e-3f)))));
    ivec bits = (__builtin_convertvector(n, ivec) + 127) << 23;
    return p * (vec)bits;
}

/* log(x) for x >= 1 (finite): x = m 2^e with m in [sqrt(1/2), sqrt(2)), then the series
   log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, to s^9 (error < 1e-9). */
static inline vec vlog(vec x) {
    ivec bits = (ivec)x;
    vec e = __builtin_convertvector((bits >> 23) - 127, vec);
    vec m = (vec)((bits & 0x007fffff) | 0x3f800000);
    ivec big = m > 1.41421356f;
    m = (vec)(((ivec)m & ~big) | ((ivec)(m * 0.5f) & big));
    e += (vec)((ivec)splat(1.0f) & big);
    vec s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    vec series = 1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
    return 2.0f * s * series + e * 0.693147180559945309f;
}

/* softplus(x) = log(1 + exp(x)), x beyond 20 as it is (torch's threshold). log1p(e) is taken
   as log(1 + e) * e / ((1 + e) - 1), exact to rounding even where 1 + e rounds away e. */
static inline vec vsoftplus(vec x) {
    vec e = vexp(x), one_e = 1.0f + e, grown = one_e - 1.0f;
    ivec exact = grown == 0.0f;
    vec l1p = vlog(one_e) * (e / (vec)(((ivec)grown & ~exact) | ((ivec)splat(1.0f) & exact)));
    l1p = (vec)(((ivec)l1p & ~exact) | ((ivec)e & exact));
    ivec over = x > 20.0f;
    return (vec)(((ivec)l1p & ~over) | ((ivec)x & over));
}

static inline vec vsigmoid(vec x) { return 1.0f / (1.0f + vexp(-x)); }

#endif
