// Per-channel passes over channels-last rows [rows, c] for batch normalisation (see swiftcpc_kernels.h): the sums of
// the statistics and of the backward (with ReLU's mask fused in), the affine output (with the residual add and
// ReLU fused in) and the input gradient's combination. Written once over 16-float vectors (8-double vectors for the
// sums), compiled for AVX-512, AVX2+FMA and baseline x86-64, picked at run time like the convolution kernels.
#include "swiftcpc_kernels.h"
#include "isa.h"

#include <stddef.h>

#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((ext_vector_type(16)));
typedef double v8d __attribute__((ext_vector_type(8)));

#define INLINE static inline __attribute__((always_inline))
/// Rows per block: a block's rows stay in cache while each 16-channel chunk of them is summed.
#define BLOCK_ROWS 256

INLINE v16 load16(const float *p) { v16 v; __builtin_memcpy(&v, p, sizeof v); return v; }
INLINE void store16(float *p, v16 v) { __builtin_memcpy(p, &v, sizeof v); }
INLINE v8d load8d(const double *p) { v8d v; __builtin_memcpy(&v, p, sizeof v); return v; }
INLINE void store8d(double *p, v8d v) { __builtin_memcpy(p, &v, sizeof v); }
INLINE v8d low8(v16 v) { return __builtin_convertvector(v.s01234567, v8d); }
INLINE v8d high8(v16 v) { return __builtin_convertvector(v.s89abcdef, v8d); }

INLINE void sums_impl(const float *a, const float *positive, const float *b, float *masked, ptrdiff_t rows, int c,
                      double *sums, double *products) {
    const int vector_end = c - c % 16;
    for (ptrdiff_t r0 = 0; r0 < rows; r0 += BLOCK_ROWS) {
        const ptrdiff_t r1 = r0 + BLOCK_ROWS < rows ? r0 + BLOCK_ROWS : rows;
        for (int j = 0; j < vector_end; j += 16) {
            v8d s0 = load8d(sums + j), s1 = load8d(sums + j + 8);
            v8d p0 = load8d(products + j), p1 = load8d(products + j + 8);
            for (ptrdiff_t r = r0; r < r1; r++) {
                const ptrdiff_t at = r * c + j;
                v16 value = load16(a + at);
                if (positive) {
                    value = load16(positive + at) > 0 ? value : (v16)(0.0f);
                    if (masked) store16(masked + at, value);
                }
                const v16 other = load16(b + at);
                const v8d lo = low8(value), hi = high8(value);
                s0 += lo;
                s1 += hi;
                p0 += lo * low8(other);
                p1 += hi * high8(other);
            }
            store8d(sums + j, s0);
            store8d(sums + j + 8, s1);
            store8d(products + j, p0);
            store8d(products + j + 8, p1);
        }
        for (int j = vector_end; j < c; j++) {
            for (ptrdiff_t r = r0; r < r1; r++) {
                const ptrdiff_t at = r * c + j;
                float value = a[at];
                if (positive) {
                    value = positive[at] > 0 ? value : 0.0f;
                    if (masked) masked[at] = value;
                }
                sums[j] += (double)value;
                products[j] += (double)value * (double)b[at];
            }
        }
    }
}

INLINE void affine_impl(const float *x, const float *scale, const float *shift, const float *residual, int relu,
                        float *y, ptrdiff_t rows, int c) {
    const int vector_end = c - c % 16;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const ptrdiff_t base = r * c;
        for (int j = 0; j < vector_end; j += 16) {
            v16 value = load16(x + base + j) * load16(scale + j) + load16(shift + j);
            if (residual) value += load16(residual + base + j);
            if (relu) value = value > 0 ? value : (v16)(0.0f);
            store16(y + base + j, value);
        }
        for (int j = vector_end; j < c; j++) {
            float value = x[base + j] * scale[j] + shift[j];
            if (residual) value += residual[base + j];
            if (relu) value = value > 0 ? value : 0.0f;
            y[base + j] = value;
        }
    }
}

INLINE void combine_impl(const float *g, const float *x, const float *s, const float *k, const float *k0, float *out,
                         ptrdiff_t rows, int c) {
    const int vector_end = c - c % 16;
    for (ptrdiff_t r = 0; r < rows; r++) {
        const ptrdiff_t base = r * c;
        for (int j = 0; j < vector_end; j += 16)
            store16(out + base + j, load16(s + j) * load16(g + base + j) + load16(k + j) * load16(x + base + j) + load16(k0 + j));
        for (int j = vector_end; j < c; j++) out[base + j] = s[j] * g[base + j] + k[j] * x[base + j] + k0[j];
    }
}

#define DEFINE_VARIANT(suffix, attributes, fused, pix, wide)                                                          \
    attributes static void sums_##suffix(const float *a, const float *positive, const float *b, float *masked,         \
                                         ptrdiff_t rows, int c, double *sums, double *products) {                    \
        sums_impl(a, positive, b, masked, rows, c, sums, products);                                                   \
    }                                                                                                                 \
    attributes static void affine_##suffix(const float *x, const float *scale, const float *shift,                    \
                                           const float *residual, int relu, float *y, ptrdiff_t rows, int c) {        \
        affine_impl(x, scale, shift, residual, relu, y, rows, c);                                                     \
    }                                                                                                                 \
    attributes static void combine_##suffix(const float *g, const float *x, const float *s, const float *k,           \
                                            const float *k0, float *out, ptrdiff_t rows, int c) {                     \
        combine_impl(g, x, s, k, k0, out, rows, c);                                                                   \
    }

SWIFTCPC_INSTANTIATE(DEFINE_VARIANT)

void swiftcpc_channel_sums(const float *a, const float *positive, const float *b, float *masked, long rows, int c,
                           double *sums, double *products, int isa) {
    SWIFTCPC_DISPATCH(sums, a, positive, b, masked, rows, c, sums, products);
}

void swiftcpc_channel_affine(const float *x, const float *scale, const float *shift, const float *residual, int relu,
                             float *y, long rows, int c, int isa) {
    SWIFTCPC_DISPATCH(affine, x, scale, shift, residual, relu, y, rows, c);
}

void swiftcpc_channel_combine(const float *g, const float *x, const float *s, const float *k, const float *k0,
                              float *out, long rows, int c, int isa) {
    SWIFTCPC_DISPATCH(combine, g, x, s, k, k0, out, rows, c);
}
