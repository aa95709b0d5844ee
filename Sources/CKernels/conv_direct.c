// Direct convolution kernels (see swiftcpc_kernels.h for the layouts and the glossary).
//
// Output pixels are taken in blocks of `pix` ≤ PIX consecutive positions of the flattened [N, HO, WO] grid, so a block may
// span rows and samples and no row tail is wasted. For each block and kernel tap the kernel computes one input pointer
// per pixel, pointing at a zero row (forward, weight gradient) or a scratch row (input gradient) when the tap falls in
// the padding, and then runs a register-blocked loop: `pix` pixels (8 with AVX-512, 4 otherwise) × OB vectors of 16
// channels held in registers, one broadcast of an input value and OB vector loads of weights per channel. Nothing
// like im2col is materialised.
#include "swiftcpc_kernels.h"
#include "isa.h"

#include <stddef.h>

// 16-float vectors are passed between the inlined helpers only; their ABI never crosses a call.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((ext_vector_type(16)));

#define PIX 8
#define INLINE static inline __attribute__((always_inline))

INLINE v16 load16(const float *p) { v16 v; __builtin_memcpy(&v, p, sizeof v); return v; }
INLINE void store16(float *p, v16 v) { __builtin_memcpy(p, &v, sizeof v); }
// `fused` is a constant in each compiled variant: without FMA instructions a vector fma would become libm calls.
INLINE v16 madd(v16 a, v16 b, v16 c, int fused) { return fused ? __builtin_elementwise_fma(a, b, c) : a * b + c; }

/// The block's pixels: the top-left input position of each one's receptive field, its sample's base offset, and
/// whether it exists (the last block of a range may be short).
typedef struct {
    int top[PIX], left[PIX], valid[PIX];
    ptrdiff_t sample[PIX], pixel[PIX];
} block_positions;

INLINE void locate(const swiftcpc_conv_geometry *g, ptrdiff_t q0, ptrdiff_t end, block_positions *b, const int pix) {
    const ptrdiff_t plane = (ptrdiff_t)g->ho * g->wo, image = (ptrdiff_t)g->h * g->w;
    for (int p = 0; p < pix; p++) {
        ptrdiff_t q = q0 + p;
        b->valid[p] = q < end;
        if (q >= end) q = end - 1;
        ptrdiff_t n = q / plane, r = q % plane;
        b->top[p] = (int)(r / g->wo) * g->sh - g->ph;
        b->left[p] = (int)(r % g->wo) * g->sw - g->pw;
        b->sample[p] = n * image;
        b->pixel[p] = q;
    }
}

/// The input pixel that tap (i, j) of block pixel p reads, or -1 when it is padding (or p does not exist).
INLINE ptrdiff_t tap_pixel(const swiftcpc_conv_geometry *g, const block_positions *b, int p, int i, int j) {
    int iy = b->top[p] + i, ix = b->left[p] + j;
    if (!b->valid[p] || iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) return -1;
    return b->sample[p] + (ptrdiff_t)iy * g->w + ix;
}

/// Whether tap row i of every block pixel lies inside the image: the KW taps are then one run of KW·C floats
/// (channels-last), read or written as one row instead of KW pieces.
INLINE int row_inside(const swiftcpc_conv_geometry *g, const block_positions *b, int i, const int pix) {
    int inside = 1;
    for (int p = 0; p < pix; p++) {
        int iy = b->top[p] + i;
        inside &= b->valid[p] & (iy >= 0) & (iy < g->h) & (b->left[p] >= 0) & (b->left[p] + g->kw <= g->w);
    }
    return inside;
}

/// The first input pixel of tap row i for each block pixel (when `row_inside`), or of tap (i, j) with −1 for
/// padding (j ≥ 0).
INLINE void tap_offsets(const swiftcpc_conv_geometry *g, const block_positions *b, int i, int j, ptrdiff_t at[PIX],
                        const int pix) {
    for (int p = 0; p < pix; p++)
        at[p] = j < 0 ? b->sample[p] + (ptrdiff_t)(b->top[p] + i) * g->w + b->left[p] : tap_pixel(g, b, p, i, j);
}

/// The input rows block pixel p reads through tap row i (j < 0: the whole run, which `row_inside` vouches for) or
/// through tap (i, j), with `outside` standing for padding.
INLINE void input_rows(const swiftcpc_conv_geometry *g, const block_positions *b, int i, int j, const float *x,
                       const float *outside, const float *rows[PIX], const int pix) {
    ptrdiff_t at[PIX];
    tap_offsets(g, b, i, j, at, pix);
    for (int p = 0; p < pix; p++) rows[p] = at[p] < 0 ? outside : x + at[p] * g->c;
}

/// acc[p] += Σ_{k<count} x_p[k] · w[k·O ..< k·O + 16·ob_count].
INLINE void forward_run(v16 acc[PIX][2], const float *const xp[PIX], const float *w, int count, int O,
                        const int pix, const int ob_count, const int fused) {
    for (int k = 0; k < count; k++) {
        v16 wv[2];
        for (int v = 0; v < ob_count; v++) wv[v] = load16(w + (ptrdiff_t)k * O + 16 * v);
        for (int p = 0; p < pix; p++) {
            v16 s = (v16)(xp[p][k]);
            for (int v = 0; v < ob_count; v++) acc[p][v] = madd(s, wv[v], acc[p][v], fused);
        }
    }
}

INLINE void forward_impl(const float *x, const float *w, float *y, const swiftcpc_conv_geometry *g, int first,
                         int last, const float *zeros, const int pix, const int ob_count, const int fused) {
    const int C = g->c, O = g->o;
    const ptrdiff_t plane = (ptrdiff_t)g->ho * g->wo, end = last * plane;
    block_positions b;
    for (ptrdiff_t q0 = first * plane; q0 < end; q0 += pix) {
        locate(g, q0, end, &b, pix);
        for (int ob = 0; ob < O; ob += 16 * ob_count) {
            v16 acc[PIX][2];
            for (int p = 0; p < pix; p++) for (int v = 0; v < ob_count; v++) acc[p][v] = (v16)(0.0f);
            for (int i = 0; i < g->kh; i++) {
                const float *wi = w + (ptrdiff_t)i * g->kw * C * O + ob;
                const float *xp[PIX];
                if (row_inside(g, &b, i, pix)) {
                    input_rows(g, &b, i, -1, x, zeros, xp, pix);
                    forward_run(acc, xp, wi, g->kw * C, O, pix, ob_count, fused);
                    continue;
                }
                for (int j = 0; j < g->kw; j++) {
                    input_rows(g, &b, i, j, x, zeros, xp, pix);
                    forward_run(acc, xp, wi + (ptrdiff_t)j * C * O, C, O, pix, ob_count, fused);
                }
            }
            for (int p = 0; p < pix; p++) {
                if (!b.valid[p]) continue;
                for (int v = 0; v < ob_count; v++) store16(y + b.pixel[p] * O + ob + 16 * v, acc[p][v]);
            }
        }
    }
}

/// dx_p[0 ..< count] += Σ_o dy_p[o] · w[o·stride ..< o·stride + count], 16·cb_count floats at a time. Distinct
/// pixels of a block reach distinct input positions through one tap, so the rows loaded here do not overlap (but
/// for scratch, whose contents are thrown away).
INLINE void backward_input_run(float *const dxp[PIX], const float *const dyp[PIX], const float *w, int count,
                               int stride, int O, const int pix, const int cb_count, const int fused) {
    for (int cb = 0; cb < count; cb += 16 * cb_count) {
        v16 acc[PIX][2];
        for (int p = 0; p < pix; p++)
            for (int v = 0; v < cb_count; v++) acc[p][v] = load16(dxp[p] + cb + 16 * v);
        for (int o = 0; o < O; o++) {
            v16 wv[2];
            for (int v = 0; v < cb_count; v++) wv[v] = load16(w + (ptrdiff_t)o * stride + cb + 16 * v);
            for (int p = 0; p < pix; p++) {
                v16 s = (v16)(dyp[p][o]);
                for (int v = 0; v < cb_count; v++) acc[p][v] = madd(s, wv[v], acc[p][v], fused);
            }
        }
        for (int p = 0; p < pix; p++)
            for (int v = 0; v < cb_count; v++) store16(dxp[p] + cb + 16 * v, acc[p][v]);
    }
}

/// Weights here are [KH][O][KW][C] ("HOWI"): for one kernel row and output channel the KW·C values are one run.
INLINE void backward_input_impl(const float *dy, const float *w, float *dx, const swiftcpc_conv_geometry *g,
                                int first, int last, const float *zeros, float *scratch, const int pix,
                                const int wide, const int fused) {
    const int C = g->c, O = g->o, run = g->kw * C;
    const ptrdiff_t plane = (ptrdiff_t)g->ho * g->wo, end = last * plane;
    block_positions b;
    for (ptrdiff_t q0 = first * plane; q0 < end; q0 += pix) {
        locate(g, q0, end, &b, pix);
        const float *dyp[PIX];
        for (int p = 0; p < pix; p++) dyp[p] = b.valid[p] ? dy + b.pixel[p] * O : zeros;
        for (int i = 0; i < g->kh; i++) {
            const float *wi = w + (ptrdiff_t)i * O * run;
            float *dxp[PIX];
            ptrdiff_t at[PIX];
            if (row_inside(g, &b, i, pix)) {
                tap_offsets(g, &b, i, -1, at, pix);
                for (int p = 0; p < pix; p++) dxp[p] = dx + at[p] * C;
                if (wide && run % 32 == 0) backward_input_run(dxp, dyp, wi, run, run, O, pix, 2, fused);
                else backward_input_run(dxp, dyp, wi, run, run, O, pix, 1, fused);
                continue;
            }
            for (int j = 0; j < g->kw; j++) {
                tap_offsets(g, &b, i, j, at, pix);
                for (int p = 0; p < pix; p++) dxp[p] = at[p] < 0 ? scratch : dx + at[p] * C;
                if (wide && C % 32 == 0) backward_input_run(dxp, dyp, wi + (ptrdiff_t)j * C, C, run, O, pix, 2, fused);
                else backward_input_run(dxp, dyp, wi + (ptrdiff_t)j * C, C, run, O, pix, 1, fused);
            }
        }
    }
}

/// dw[k·O + ob ..] += Σ_p x_p[k] · dy_p[ob ..] for k < count.
INLINE void backward_weight_run(float *dw, const float *const xp[PIX], const float *const dyp[PIX], int count, int O,
                                const int pix, const int ob_count, const int fused) {
    for (int ob = 0; ob < O; ob += 16 * ob_count) {
        v16 gv[PIX][2];
        for (int p = 0; p < pix; p++)
            for (int v = 0; v < ob_count; v++) gv[p][v] = load16(dyp[p] + ob + 16 * v);
        for (int k = 0; k < count; k++) {
            float *row = dw + (ptrdiff_t)k * O + ob;
            v16 acc[2];
            for (int v = 0; v < ob_count; v++) acc[v] = load16(row + 16 * v);
            for (int p = 0; p < pix; p++) {
                v16 s = (v16)(xp[p][k]);
                for (int v = 0; v < ob_count; v++) acc[v] = madd(s, gv[p][v], acc[v], fused);
            }
            for (int v = 0; v < ob_count; v++) store16(row + 16 * v, acc[v]);
        }
    }
}

INLINE void backward_weight_impl(const float *x, const float *dy, float *dw, const swiftcpc_conv_geometry *g,
                                 int first, int last, const float *zeros, const int pix, const int ob_count,
                                 const int fused) {
    const int C = g->c, O = g->o;
    const ptrdiff_t plane = (ptrdiff_t)g->ho * g->wo, end = last * plane;
    block_positions b;
    for (ptrdiff_t q0 = first * plane; q0 < end; q0 += pix) {
        locate(g, q0, end, &b, pix);
        const float *dyp[PIX];
        for (int p = 0; p < pix; p++) dyp[p] = b.valid[p] ? dy + b.pixel[p] * O : zeros;
        for (int i = 0; i < g->kh; i++) {
            float *dwi = dw + (ptrdiff_t)i * g->kw * C * O;
            const float *xp[PIX];
            if (row_inside(g, &b, i, pix)) {
                input_rows(g, &b, i, -1, x, zeros, xp, pix);
                backward_weight_run(dwi, xp, dyp, g->kw * C, O, pix, ob_count, fused);
                continue;
            }
            for (int j = 0; j < g->kw; j++) {
                input_rows(g, &b, i, j, x, zeros, xp, pix);
                backward_weight_run(dwi + (ptrdiff_t)j * C * O, xp, dyp, C, O, pix, ob_count, fused);
            }
        }
    }
}

// One set of entry points per instruction set (isa.h): `pix` pixels × up to 2 (`wide`) vectors of 16 channels.
#define DEFINE_VARIANT(suffix, attributes, fused, pix, wide)                                                          \
    attributes static void forward_##suffix(const float *x, const float *w, float *y, const swiftcpc_conv_geometry *g, \
                                            int first, int last, const float *zeros) {                              \
        if (wide && g->o % 32 == 0) forward_impl(x, w, y, g, first, last, zeros, pix, 2, fused);                      \
        else forward_impl(x, w, y, g, first, last, zeros, pix, 1, fused);                                             \
    }                                                                                                                 \
    attributes static void backward_input_##suffix(const float *dy, const float *w, float *dx,                        \
                                                   const swiftcpc_conv_geometry *g, int first, int last,              \
                                                   const float *zeros, float *scratch) {                              \
        backward_input_impl(dy, w, dx, g, first, last, zeros, scratch, pix, wide, fused);                             \
    }                                                                                                                 \
    attributes static void backward_weight_##suffix(const float *x, const float *dy, float *dw,                       \
                                                    const swiftcpc_conv_geometry *g, int first, int last,             \
                                                    const float *zeros) {                                             \
        if (wide && g->o % 32 == 0) backward_weight_impl(x, dy, dw, g, first, last, zeros, pix, 2, fused);            \
        else backward_weight_impl(x, dy, dw, g, first, last, zeros, pix, 1, fused);                                   \
    }

SWIFTCPC_INSTANTIATE(DEFINE_VARIANT)

#if defined(__x86_64__)
static int best_level(void) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}
int swiftcpc_isa_level(int requested) {
    int best = best_level();
    return requested < 0 || requested > best ? best : requested;
}
#else
int swiftcpc_isa_level(int requested) { (void)requested; return 0; }
#endif

const char *swiftcpc_kernels_isa(void) {
    static const char *names[] = {"baseline", "avx2", "avx512"};
    return names[swiftcpc_isa_level(-1)];
}

void swiftcpc_conv_forward(const float *x, const float *w_hwio, float *y, const swiftcpc_conv_geometry *g,
                           int first, int last, const float *zeros, int isa) {
    SWIFTCPC_DISPATCH(forward, x, w_hwio, y, g, first, last, zeros);
}

void swiftcpc_conv_backward_input(const float *dy, const float *w_howi, float *dx, const swiftcpc_conv_geometry *g,
                                  int first, int last, const float *zeros, float *scratch, int isa) {
    SWIFTCPC_DISPATCH(backward_input, dy, w_howi, dx, g, first, last, zeros, scratch);
}

void swiftcpc_conv_backward_weight(const float *x, const float *dy, float *dw_hwio, const swiftcpc_conv_geometry *g,
                                   int first, int last, const float *zeros, int isa) {
    SWIFTCPC_DISPATCH(backward_weight, x, dy, dw_hwio, g, first, last, zeros);
}
