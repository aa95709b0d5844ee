// Winograd F(2×2, 3×3) convolution (Lavin & Gray 2016) for 3×3 kernels at stride 1 with one pixel of zero padding,
// channels-last (see swiftcpc_kernels.h). Each 2×2 output tile is computed from its 4×4 input tile as
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
// so the 36 multiplications per tile and channel pair of the direct convolution become 16: the products are 16
// matrix products, one per tile position p, of the transformed input V_p [tiles, C] and the transformed weights
// U_p [C, O]. Tiles are taken in blocks of TB (across rows and samples); a block's V and M = V·U live in a scratch
// buffer, and the products run in the direct kernels' register blocking (`pix` tiles × up to 2 vectors of 16
// output channels, one broadcast per input channel).
//
// The weight gradient is dU_p = Σ_tiles V_pᵀ · dM_p with dM = A dY Aᵀ, then dg = Gᵀ dU G; the input gradient is the
// forward convolution of dy with the kernel flipped and its channel axes swapped.
//
// Transforms (Lavin & Gray's F(2, 3)):
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1].
#include "swiftcpc_kernels.h"
#include "isa.h"

#include <stddef.h>

#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((ext_vector_type(16)));

#define TB 32
#define PIX 8
/// The most rows of dU the weight gradient keeps in registers (channel counts here are multiples of 16).
#define CB 16
#define INLINE static inline __attribute__((always_inline))

INLINE v16 load16(const float *p) { v16 v; __builtin_memcpy(&v, p, sizeof v); return v; }
INLINE void store16(float *p, v16 v) { __builtin_memcpy(p, &v, sizeof v); }
INLINE v16 madd(v16 a, v16 b, v16 c, int fused) { return fused ? __builtin_elementwise_fma(a, b, c) : a * b + c; }


/// Tile t of the flattened [N, ⌈H/tile⌉, ⌈W/tile⌉] grid of `tile` × `tile` output tiles: its sample's first pixel
/// and the top-left output pixel.
INLINE void tile_origin(const swiftcpc_conv_geometry *g, int tile, ptrdiff_t t, ptrdiff_t *sample, int *y0, int *x0) {
    const int th = (g->h + tile - 1) / tile, tw = (g->w + tile - 1) / tile;
    const ptrdiff_t per = (ptrdiff_t)th * tw, n = t / per, r = t % per;
    *sample = n * g->h * g->w;
    *y0 = (int)(r / tw) * tile;
    *x0 = (int)(r % tw) * tile;
}

/// count floats set to zero (count a multiple of 16).
INLINE void zero_floats(float *p, int count) {
    for (int i = 0; i < count; i += 16) store16(p + i, (v16)(0.0f));
}

/// A tile's Σy and Σy² for outputs o0 ..< o0 + 16 added to the block's float sums ([O] sums, then [O] squares).
INLINE void add_sums(float *block_sums, int O, int o0, v16 sum, v16 square) {
    store16(block_sums + o0, load16(block_sums + o0) + sum);
    store16(block_sums + O + o0, load16(block_sums + O + o0) + square);
}

/// The block's float sums added to the call's double sums.
INLINE void flush_sums(double *sums, const float *block_sums, int O) {
    for (int j = 0; j < 2 * O; j++) sums[j] += (double)block_sums[j];
}

/// M_p = V_p · U_p for the `planes` tile positions p: V_p [count][C] (rows of the block's tiles), U_p [C][O],
/// M_p [count][O]; register blocking `pix` tiles × up to 2 vectors of 16 outputs, one broadcast per input channel.
INLINE void products(const float *v, const float *u, float *m, const int planes, const ptrdiff_t vplane,
                     const ptrdiff_t mplane, const int C, const int O, const int count, const int pix, const int ob_count,
                     const int fused) {
    for (int p = 0; p < planes; p++) {
        const float *up = u + (ptrdiff_t)p * C * O, *vp = v + p * vplane;
        float *mp = m + p * mplane;
        for (int ob = 0; ob < O; ob += 16 * ob_count) {
            for (int ts = 0; ts < count; ts += pix) {
                v16 acc[PIX][2];
                for (int q = 0; q < pix; q++) for (int k = 0; k < ob_count; k++) acc[q][k] = (v16)(0.0f);
                const float *vrow = vp + (ptrdiff_t)ts * C;
                for (int c = 0; c < C; c++) {
                    v16 wv[2];
                    for (int k = 0; k < ob_count; k++) wv[k] = load16(up + (ptrdiff_t)c * O + ob + 16 * k);
                    for (int q = 0; q < pix; q++) {
                        const v16 s = (v16)(vrow[(ptrdiff_t)q * C + c]);
                        for (int k = 0; k < ob_count; k++) acc[q][k] = madd(s, wv[k], acc[q][k], fused);
                    }
                }
                for (int q = 0; q < pix; q++)
                    for (int k = 0; k < ob_count; k++) store16(mp + (ptrdiff_t)(ts + q) * O + ob + 16 * k, acc[q][k]);
            }
        }
    }
}

/// dU_p[c][o] += Σ_t V_p[t][c] · dM_p[t][o] for the `planes` tile positions: `cb` rows of dU × up to 2 vectors of 16
/// outputs stay in registers over the block's tiles (independent accumulators, dU read and written once per block).
INLINE void gradient_products(const float *v, const float *dm, float *du, const int planes, const ptrdiff_t vplane,
                              const ptrdiff_t mplane, const int C, const int O, const int count, const int cb,
                              const int ob_count, const int fused) {
    for (int p = 0; p < planes; p++) {
        const float *vp = v + p * vplane, *mp = dm + p * mplane;
        float *dup = du + (ptrdiff_t)p * C * O;
        for (int ob = 0; ob < O; ob += 16 * ob_count) {
            for (int c0 = 0; c0 < C; c0 += cb) {
                v16 acc[CB][2];
                for (int r = 0; r < cb; r++)
                    for (int k = 0; k < ob_count; k++) acc[r][k] = load16(dup + (ptrdiff_t)(c0 + r) * O + ob + 16 * k);
                for (int t = 0; t < count; t++) {
                    v16 gv[2];
                    for (int k = 0; k < ob_count; k++) gv[k] = load16(mp + (ptrdiff_t)t * O + ob + 16 * k);
                    const float *vrow = vp + (ptrdiff_t)t * C + c0;
                    for (int r = 0; r < cb; r++) {
                        const v16 s = (v16)(vrow[r]);
                        for (int k = 0; k < ob_count; k++) acc[r][k] = madd(s, gv[k], acc[r][k], fused);
                    }
                }
                for (int r = 0; r < cb; r++)
                    for (int k = 0; k < ob_count; k++) store16(dup + (ptrdiff_t)(c0 + r) * O + ob + 16 * k, acc[r][k]);
            }
        }
    }
}

/// V[p][t][c0 ..< c0 + 16] = (Bᵀ d B)_p for the 4×4 input tile at (y0 − 1, x0 − 1), zeros outside the image.
INLINE void input_transform(const float *x, const swiftcpc_conv_geometry *g, ptrdiff_t sample, int y0, int x0, int c0,
                            float *v, ptrdiff_t plane_stride) {
    const int C = g->c;
    v16 d[4][4];
    for (int i = 0; i < 4; i++) {
        const int iy = y0 - 1 + i;
        for (int j = 0; j < 4; j++) {
            const int ix = x0 - 1 + j;
            d[i][j] = (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                          ? (v16)(0.0f)
                          : load16(x + (sample + (ptrdiff_t)iy * g->w + ix) * C + c0);
        }
    }
    v16 r[4][4];
    for (int j = 0; j < 4; j++) {
        r[0][j] = d[0][j] - d[2][j];
        r[1][j] = d[1][j] + d[2][j];
        r[2][j] = d[2][j] - d[1][j];
        r[3][j] = d[1][j] - d[3][j];
    }
    for (int i = 0; i < 4; i++) {
        store16(v + (4 * i + 0) * plane_stride, r[i][0] - r[i][2]);
        store16(v + (4 * i + 1) * plane_stride, r[i][1] + r[i][2]);
        store16(v + (4 * i + 2) * plane_stride, r[i][2] - r[i][1]);
        store16(v + (4 * i + 3) * plane_stride, r[i][1] - r[i][3]);
    }
}

// ---- F(4×4, 3×3): 4×4 output tiles from 6×6 input tiles, 36 products per tile instead of 4 × 16 = 64 ----
// Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
// G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1],
// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1] (Lavin & Gray 2016, points 0, ±1, ±2).

#define TB4 16

size_t swiftcpc_winograd_scratch_floats(int c, int o, int tile) {
    const size_t planes = (size_t)(tile + 2) * (size_t)(tile + 2), tb = tile == 4 ? TB4 : TB;
    return planes * tb * (size_t)(c + o) + 2 * (size_t)o;
}

/// Bᵀ applied to six vectors.
INLINE void b4(const v16 d[6], v16 r[6]) {
    r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    r[1] = d[3] + d[4] - 4.0f * (d[1] + d[2]);
    r[2] = 4.0f * (d[1] - d[2]) + d[4] - d[3];
    r[3] = 2.0f * (d[3] - d[1]) + d[4] - d[2];
    r[4] = 2.0f * (d[1] - d[3]) + d[4] - d[2];
    r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/// V[p][t][c0 ..< c0 + 16] = (Bᵀ d B)_p for F(4×4)'s 6×6 input tile at (y0 − 1, x0 − 1), zeros outside the image.
INLINE void input4_transform(const float *x, const swiftcpc_conv_geometry *g, ptrdiff_t sample, int y0, int x0, int c0,
                             float *v, ptrdiff_t plane_stride) {
    const int C = g->c;
    v16 r[6][6];
    for (int j = 0; j < 6; j++) {
        const int ix = x0 - 1 + j;
        v16 d[6], col[6];
        for (int i = 0; i < 6; i++) {
            const int iy = y0 - 1 + i;
            d[i] = (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                       ? (v16)(0.0f)
                       : load16(x + (sample + (ptrdiff_t)iy * g->w + ix) * C + c0);
        }
        b4(d, col);
        for (int i = 0; i < 6; i++) r[i][j] = col[i];
    }
    for (int i = 0; i < 6; i++) {
        v16 row[6];
        b4(r[i], row);
        for (int j = 0; j < 6; j++) store16(v + (6 * i + j) * plane_stride, row[j]);
    }
}

/// The block's tiles' V: [(tile + 2)²][tb][C], rows of tiles past `count` zero.
INLINE void transform_block(const float *x, const swiftcpc_conv_geometry *g, int tile, int tb, ptrdiff_t t0, int count,
                            float *v) {
    const int C = g->c, planes = (tile + 2) * (tile + 2);
    const ptrdiff_t plane = (ptrdiff_t)tb * C;
    for (int t = 0; t < tb; t++) {
        if (t >= count) {
            for (int p = 0; p < planes; p++)
                for (int c0 = 0; c0 < C; c0 += 16) store16(v + p * plane + (ptrdiff_t)t * C + c0, (v16)(0.0f));
            continue;
        }
        ptrdiff_t sample;
        int y0, x0;
        tile_origin(g, tile, t0 + t, &sample, &y0, &x0);
        for (int c0 = 0; c0 < C; c0 += 16) {
            float *out = v + (ptrdiff_t)t * C + c0;
            if (tile == 4) input4_transform(x, g, sample, y0, x0, c0, out, plane);
            else input_transform(x, g, sample, y0, x0, c0, out, plane);
        }
    }
}

/// Aᵀ applied to six vectors.
INLINE void a4(const v16 m[6], v16 s[4]) {
    const v16 p12 = m[1] + m[2], m12 = m[1] - m[2], p34 = m[3] + m[4], m34 = m[3] - m[4];
    s[0] = m[0] + p12 + p34;
    s[1] = m12 + 2.0f * m34;
    s[2] = p12 + 4.0f * p34;
    s[3] = m12 + 8.0f * m34 + m[5];
}

/// A applied to four vectors (dM = A dY Aᵀ).
INLINE void a4t(const v16 e[4], v16 a[6]) {
    const v16 p02 = e[0] + e[2], p13 = e[1] + e[3], q02 = e[0] + 4.0f * e[2], q13 = 2.0f * e[1] + 8.0f * e[3];
    a[0] = e[0];
    a[1] = p02 + p13;
    a[2] = p02 - p13;
    a[3] = q02 + q13;
    a[4] = q02 - q13;
    a[5] = e[3];
}

// ---- Both tile sizes: the per-tile output and output-gradient transforms, then the kernels' loops ----

/// Y = Aᵀ M A of F(2×2) for tile t, outputs o0 ..< o0 + 16: the pixels inside the image written, their Σy and Σy²
/// added to `sum` and `square` when these are non-null.
INLINE void output2_tile(const float *m, ptrdiff_t mplane, int t, int O, int o0, float *y, const swiftcpc_conv_geometry *g,
                         ptrdiff_t sample, int y0, int x0, v16 *sum, v16 *square, const int fused) {
    v16 s[2][4];
    for (int j = 0; j < 4; j++) {
        const v16 m0 = load16(m + (0 * 4 + j) * mplane + (ptrdiff_t)t * O + o0);
        const v16 m1 = load16(m + (1 * 4 + j) * mplane + (ptrdiff_t)t * O + o0);
        const v16 m2 = load16(m + (2 * 4 + j) * mplane + (ptrdiff_t)t * O + o0);
        const v16 m3 = load16(m + (3 * 4 + j) * mplane + (ptrdiff_t)t * O + o0);
        s[0][j] = m0 + m1 + m2;
        s[1][j] = m1 - m2 - m3;
    }
    for (int i = 0; i < 2; i++) {
        const int oy = y0 + i;
        if (oy >= g->h) break;
        const v16 out[2] = {s[i][0] + s[i][1] + s[i][2], s[i][1] - s[i][2] - s[i][3]};
        for (int j = 0; j < 2; j++) {
            const int ox = x0 + j;
            if (ox >= g->w) break;
            store16(y + (sample + (ptrdiff_t)oy * g->w + ox) * O + o0, out[j]);
            if (sum) {
                *sum += out[j];
                *square = madd(out[j], out[j], *square, fused);
            }
        }
    }
}

/// The same for F(4×4).
INLINE void output4_tile(const float *m, ptrdiff_t mplane, int t, int O, int o0, float *y, const swiftcpc_conv_geometry *g,
                         ptrdiff_t sample, int y0, int x0, v16 *sum, v16 *square, const int fused) {
    v16 s[4][6];
    for (int j = 0; j < 6; j++) {
        v16 col[6], out[4];
        for (int i = 0; i < 6; i++) col[i] = load16(m + (6 * i + j) * mplane + (ptrdiff_t)t * O + o0);
        a4(col, out);
        for (int i = 0; i < 4; i++) s[i][j] = out[i];
    }
    for (int i = 0; i < 4; i++) {
        const int oy = y0 + i;
        if (oy >= g->h) break;
        v16 out[4];
        a4(s[i], out);
        for (int j = 0; j < 4; j++) {
            const int ox = x0 + j;
            if (ox >= g->w) break;
            store16(y + (sample + (ptrdiff_t)oy * g->w + ox) * O + o0, out[j]);
            if (sum) {
                *sum += out[j];
                *square = madd(out[j], out[j], *square, fused);
            }
        }
    }
}

/// dY of tile t, outputs o0 ..< o0 + 16, as a tile × tile block (zero outside the image and for tiles past `count`).
INLINE void load_gradient_tile(const float *dy, const swiftcpc_conv_geometry *g, int O, int o0, ptrdiff_t sample,
                               int y0, int x0, int inside, int tile, v16 e[4][4]) {
    for (int i = 0; i < tile; i++)
        for (int j = 0; j < tile; j++) {
            const int oy = y0 + i, ox = x0 + j;
            e[i][j] = (!inside || oy >= g->h || ox >= g->w) ? (v16)(0.0f)
                                                             : load16(dy + (sample + (ptrdiff_t)oy * g->w + ox) * O + o0);
        }
}

/// dM = A dY Aᵀ of F(2×2) written to the 16 planes at `row`.
INLINE void gradient2_tile(v16 e[4][4], float *row, ptrdiff_t mplane) {
    v16 a[4][2];
    for (int j = 0; j < 2; j++) {
        a[0][j] = e[0][j];
        a[1][j] = e[0][j] + e[1][j];
        a[2][j] = e[0][j] - e[1][j];
        a[3][j] = -e[1][j];
    }
    for (int i = 0; i < 4; i++) {
        store16(row + (4 * i + 0) * mplane, a[i][0]);
        store16(row + (4 * i + 1) * mplane, a[i][0] + a[i][1]);
        store16(row + (4 * i + 2) * mplane, a[i][0] - a[i][1]);
        store16(row + (4 * i + 3) * mplane, -a[i][1]);
    }
}

/// dM = A dY Aᵀ of F(4×4) written to the 36 planes at `row`.
INLINE void gradient4_tile(v16 e[4][4], float *row, ptrdiff_t mplane) {
    v16 a[6][4];
    for (int j = 0; j < 4; j++) {
        v16 column[4] = {e[0][j], e[1][j], e[2][j], e[3][j]}, out[6];
        a4t(column, out);
        for (int k = 0; k < 6; k++) a[k][j] = out[k];
    }
    for (int k = 0; k < 6; k++) {
        v16 out[6];
        a4t(a[k], out);
        for (int l = 0; l < 6; l++) store16(row + (6 * k + l) * mplane, out[l]);
    }
}

/// The first tile, the tile count per sample and the block size of `tile` (2 or 4) over samples [first, last).
#define TILE_SETUP                                                                                                    \
    const int C = g->c, O = g->o, planes = (tile + 2) * (tile + 2), tb = tile == 4 ? TB4 : TB;                        \
    const ptrdiff_t per = (ptrdiff_t)((g->h + tile - 1) / tile) * ((g->w + tile - 1) / tile);                         \
    const ptrdiff_t begin = first * per, end = last * per;                                                            \
    const ptrdiff_t vplane = (ptrdiff_t)tb * C, mplane = (ptrdiff_t)tb * O

INLINE void forward_impl(const float *x, const float *u, float *y, const swiftcpc_conv_geometry *g, int first, int last,
                         float *scratch, double *sums, const int tile, const int pix, const int ob_count,
                         const int fused) {
    TILE_SETUP;
    float *v = scratch, *m = scratch + (ptrdiff_t)planes * tb * C, *block_sums = m + (ptrdiff_t)planes * tb * O;
    for (ptrdiff_t t0 = begin; t0 < end; t0 += tb) {
        const int count = end - t0 < tb ? (int)(end - t0) : tb;
        transform_block(x, g, tile, tb, t0, count, v);
        products(v, u, m, planes, vplane, mplane, C, O, count, pix, ob_count, fused);
        // Y = Aᵀ M A, the pixels inside the image written; with `sums`, their Σy and Σy² per channel, in float over
        // the block (at most tile²·tb pixels) and then in double.
        if (sums) zero_floats(block_sums, 2 * O);
        for (int t = 0; t < count; t++) {
            ptrdiff_t sample;
            int y0, x0;
            tile_origin(g, tile, t0 + t, &sample, &y0, &x0);
            for (int o0 = 0; o0 < O; o0 += 16) {
                v16 sum = (v16)(0.0f), square = (v16)(0.0f);
                v16 *to_sum = sums ? &sum : NULL, *to_square = sums ? &square : NULL;
                if (tile == 4) output4_tile(m, mplane, t, O, o0, y, g, sample, y0, x0, to_sum, to_square, fused);
                else output2_tile(m, mplane, t, O, o0, y, g, sample, y0, x0, to_sum, to_square, fused);
                if (sums) add_sums(block_sums, O, o0, sum, square);
            }
        }
        if (sums) flush_sums(sums, block_sums, O);
    }
}

INLINE void backward_weight_impl(const float *x, const float *dy, float *du, const swiftcpc_conv_geometry *g, int first,
                                 int last, float *scratch, const int tile, const int pix, const int ob_count,
                                 const int fused) {
    TILE_SETUP;
    float *v = scratch, *dm = scratch + (ptrdiff_t)planes * tb * C;
    // Accumulators: 16 of AVX-512's 32 registers; 4 × 2 of AVX2's 16.
    const int cb = pix == PIX ? (ob_count == 2 ? 8 : 16) : 4;
    for (ptrdiff_t t0 = begin; t0 < end; t0 += tb) {
        const int count = end - t0 < tb ? (int)(end - t0) : tb;
        transform_block(x, g, tile, tb, t0, count, v);
        // dM = A dY Aᵀ per tile (dY zero outside the image and past `count`).
        for (int t = 0; t < tb; t++) {
            ptrdiff_t sample = 0;
            int y0 = 0, x0 = 0;
            if (t < count) tile_origin(g, tile, t0 + t, &sample, &y0, &x0);
            for (int o0 = 0; o0 < O; o0 += 16) {
                v16 e[4][4];
                load_gradient_tile(dy, g, O, o0, sample, y0, x0, t < count, tile, e);
                float *row = dm + (ptrdiff_t)t * O + o0;
                if (tile == 4) gradient4_tile(e, row, mplane);
                else gradient2_tile(e, row, mplane);
            }
        }
        // dU_p[c][o] += Σ_t V_p[t][c] · dM_p[t][o].
        gradient_products(v, dm, du, planes, vplane, mplane, C, O, count, cb, ob_count, fused);
    }
}

/// F(4×4, 3×3)'s G.
static const float G4[6][3] = {{0.25f, 0, 0},
                               {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                               {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                               {1.0f / 24, 1.0f / 12, 1.0f / 6},
                               {1.0f / 24, -1.0f / 12, 1.0f / 6},
                               {0, 0, 1}};

static void weight_gradient4(const float *du, float *dw, int c, int o) {
    for (int oc = 0; oc < o; oc++) {
        for (int ic = 0; ic < c; ic++) {
            float e[6][6];
            for (int p = 0; p < 36; p++) e[p / 6][p % 6] = du[((ptrdiff_t)p * c + ic) * o + oc];
            // Gᵀ e G.
            float a[3][6];
            for (int i = 0; i < 3; i++)
                for (int q = 0; q < 6; q++) {
                    float sum = 0;
                    for (int p = 0; p < 6; p++) sum += G4[p][i] * e[p][q];
                    a[i][q] = sum;
                }
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    float sum = 0;
                    for (int q = 0; q < 6; q++) sum += a[i][q] * G4[q][j];
                    dw[((ptrdiff_t)oc * c + ic) * 9 + 3 * i + j] = sum;
                }
        }
    }
}

static void weights4(const float *w, float *u, int c, int o, int flipped, int first, int last) {
    const float (*G)[3] = G4;
    for (int oc = first; oc < last; oc++) {
        for (int ic = 0; ic < c; ic++) {
            float k[3][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    k[i][j] = flipped ? w[((oc * c + ic) * 3 + 2 - i) * 3 + 2 - j] : w[((oc * c + ic) * 3 + i) * 3 + j];
            float a[6][3];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 3; j++) a[i][j] = G[i][0] * k[0][j] + G[i][1] * k[1][j] + G[i][2] * k[2][j];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    const float value = a[i][0] * G[j][0] + a[i][1] * G[j][1] + a[i][2] * G[j][2];
                    const ptrdiff_t at = flipped ? ((ptrdiff_t)(6 * i + j) * o + oc) * c + ic
                                                 : ((ptrdiff_t)(6 * i + j) * c + ic) * o + oc;
                    u[at] = value;
                }
        }
    }
}

#define DEFINE_VARIANT(suffix, attributes, fused, pix, wide)                                                          \
    attributes static void forward_##suffix(const float *x, const float *u, float *y, const swiftcpc_conv_geometry *g, \
                                            int first, int last, float *scratch, double *sums, int tile) {            \
        const int two = wide && g->o % 32 == 0;                                                                       \
        if (tile == 4 && two) forward_impl(x, u, y, g, first, last, scratch, sums, 4, pix, 2, fused);                 \
        else if (tile == 4) forward_impl(x, u, y, g, first, last, scratch, sums, 4, pix, 1, fused);                   \
        else if (two) forward_impl(x, u, y, g, first, last, scratch, sums, 2, pix, 2, fused);                         \
        else forward_impl(x, u, y, g, first, last, scratch, sums, 2, pix, 1, fused);                                  \
    }                                                                                                                 \
    attributes static void backward_weight_##suffix(const float *x, const float *dy, float *du,                       \
                                                    const swiftcpc_conv_geometry *g, int first, int last,             \
                                                    float *scratch, int tile) {                                       \
        const int two = wide && g->o % 32 == 0;                                                                       \
        if (tile == 4 && two) backward_weight_impl(x, dy, du, g, first, last, scratch, 4, pix, 2, fused);             \
        else if (tile == 4) backward_weight_impl(x, dy, du, g, first, last, scratch, 4, pix, 1, fused);               \
        else if (two) backward_weight_impl(x, dy, du, g, first, last, scratch, 2, pix, 2, fused);                     \
        else backward_weight_impl(x, dy, du, g, first, last, scratch, 2, pix, 1, fused);                              \
    }

SWIFTCPC_INSTANTIATE(DEFINE_VARIANT)

void swiftcpc_winograd_forward(const float *x, const float *u, float *y, const swiftcpc_conv_geometry *g, int first,
                               int last, float *scratch, double *sums, int tile, int isa) {
    SWIFTCPC_DISPATCH(forward, x, u, y, g, first, last, scratch, sums, tile);
}

void swiftcpc_winograd_backward_weight(const float *x, const float *dy, float *du, const swiftcpc_conv_geometry *g,
                                       int first, int last, float *scratch, int tile, int isa) {
    SWIFTCPC_DISPATCH(backward_weight, x, dy, du, g, first, last, scratch, tile);
}

static void weights2(const float *w, float *u, int c, int o, int flipped, int first, int last) {
    for (int oc = first; oc < last; oc++) {
        for (int ic = 0; ic < c; ic++) {
            // g[i][j] = w[oc][ic][i][j], or for the input gradient w[oc][ic][2 − i][2 − j] stored as U[p][oc][ic]
            // (its input channels are the forward's outputs).
            float k[3][3];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    k[i][j] = flipped ? w[((oc * c + ic) * 3 + 2 - i) * 3 + 2 - j] : w[((oc * c + ic) * 3 + i) * 3 + j];
            float a[4][3];
            for (int j = 0; j < 3; j++) {
                a[0][j] = k[0][j];
                a[1][j] = 0.5f * (k[0][j] + k[1][j] + k[2][j]);
                a[2][j] = 0.5f * (k[0][j] - k[1][j] + k[2][j]);
                a[3][j] = k[2][j];
            }
            for (int i = 0; i < 4; i++) {
                const float b[4] = {a[i][0], 0.5f * (a[i][0] + a[i][1] + a[i][2]), 0.5f * (a[i][0] - a[i][1] + a[i][2]), a[i][2]};
                for (int j = 0; j < 4; j++) {
                    const ptrdiff_t at = flipped ? ((ptrdiff_t)(4 * i + j) * o + oc) * c + ic
                                                 : ((ptrdiff_t)(4 * i + j) * c + ic) * o + oc;
                    u[at] = b[j];
                }
            }
        }
    }
}

static void weight_gradient2(const float *du, float *dw, int c, int o) {
    for (int oc = 0; oc < o; oc++) {
        for (int ic = 0; ic < c; ic++) {
            float e[4][4];
            for (int p = 0; p < 16; p++) e[p / 4][p % 4] = du[((ptrdiff_t)p * c + ic) * o + oc];
            // Gᵀ e G: Gᵀ = [1 ½ ½ 0; 0 ½ −½ 0; 0 ½ ½ 1].
            float a[3][4];
            for (int j = 0; j < 4; j++) {
                a[0][j] = e[0][j] + 0.5f * (e[1][j] + e[2][j]);
                a[1][j] = 0.5f * (e[1][j] - e[2][j]);
                a[2][j] = 0.5f * (e[1][j] + e[2][j]) + e[3][j];
            }
            for (int i = 0; i < 3; i++) {
                float *out = dw + ((ptrdiff_t)oc * c + ic) * 9 + 3 * i;
                out[0] = a[i][0] + 0.5f * (a[i][1] + a[i][2]);
                out[1] = 0.5f * (a[i][1] - a[i][2]);
                out[2] = 0.5f * (a[i][1] + a[i][2]) + a[i][3];
            }
        }
    }
}

void swiftcpc_winograd_weights(const float *w, float *u, int c, int o, int tile, int flipped, int first, int last) {
    if (tile == 4) weights4(w, u, c, o, flipped, first, last);
    else weights2(w, u, c, o, flipped, first, last);
}

void swiftcpc_winograd_weight_gradient(const float *du, float *dw, int c, int o, int tile) {
    if (tile == 4) weight_gradient4(du, dw, c, o);
    else weight_gradient2(du, dw, c, o);
}
