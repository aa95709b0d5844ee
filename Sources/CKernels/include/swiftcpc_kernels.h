// Direct (im2col-free) convolution kernels for channels-last images, written once over 16-float vectors and
// compiled for AVX-512, AVX2+FMA and baseline x86-64 / other CPUs; the widest the processor supports is picked at run
// time. TensorCore's conv2d calls them for ungrouped, undilated convolutions whose output channels (and, for the
// input gradient, input channels) are multiples of 16: the ResNet backbones of the image-pair methods.
//
// Glossary: N batch, H/W input height/width, C input channels, O output channels, KH/KW kernel extents, SH/SW
// strides, PH/PW zero padding, HO/WO output height/width. Input x [N, H, W, C]; output y [N, HO, WO, O];
// weights in "HWIO" layout w[KH][KW][C][O] (the output channel fastest), or "HOWI" w[KH][O][KW][C] for the input
// gradient (one kernel row's KW·C values per output channel contiguous). Every function works on the samples [first, last) so that callers can split a batch across threads, and
// runs with the instruction set `isa` asks for (0 baseline, 1 AVX2+FMA, 2 AVX-512; negative: the best there is),
// lowered to what the processor has, so that tests can compare the variants.
#ifndef SWIFTCPC_KERNELS_H
#define SWIFTCPC_KERNELS_H

#include <stddef.h>

typedef struct {
    int n, h, w, c, o, kh, kw, sh, sw, ph, pw, ho, wo;
} swiftcpc_conv_geometry;

/// y[first..<last] = conv(x, w_hwio). O must be a multiple of 16. `zeros` holds at least C zero floats.
void swiftcpc_conv_forward(const float *x, const float *w_hwio, float *y, const swiftcpc_conv_geometry *g,
                           int first, int last, const float *zeros, int isa);

/// dx[first..<last] += the input gradient of conv for output gradient dy (C and O multiples of 16). `zeros` holds at
/// least O zero floats; `scratch` C floats that out-of-image taps write into and that are never read as a result.
void swiftcpc_conv_backward_input(const float *dy, const float *w_howi, float *dx, const swiftcpc_conv_geometry *g,
                                  int first, int last, const float *zeros, float *scratch, int isa);

/// dw_hwio += Σ over samples [first, last) of the weight gradient (O a multiple of 16). `zeros` holds at least
/// max(C, O) zero floats.
void swiftcpc_conv_backward_weight(const float *x, const float *dy, float *dw_hwio, const swiftcpc_conv_geometry *g,
                                   int first, int last, const float *zeros, int isa);

/// Winograd F(tile×tile, 3×3), `tile` 2 or 4: 3×3 kernels, stride 1, padding 1, C and O multiples of 16. U is the
/// transformed kernel [(tile + 2)²][C][O] (`swiftcpc_winograd_weights`); `scratch` holds
/// `swiftcpc_winograd_scratch_floats(C, O, tile)` floats per concurrent call. y[first..<last] = conv(x, w). With `sums`
/// non-null, also sums[j] += Σ y[…, j] and sums[O + j] += Σ y[…, j]² over the samples written (batch norm's
/// statistics without a pass of their own).
void swiftcpc_winograd_forward(const float *x, const float *u, float *y, const swiftcpc_conv_geometry *g, int first,
                               int last, float *scratch, double *sums, int tile, int isa);

/// du[(tile + 2)²][C][O] += Σ over samples [first, last) of the transformed weight gradient (then
/// `swiftcpc_winograd_weight_gradient` with the same tile).
void swiftcpc_winograd_backward_weight(const float *x, const float *dy, float *du, const swiftcpc_conv_geometry *g,
                                       int first, int last, float *scratch, int tile, int isa);

/// U [(tile + 2)²][C][O] = G g Gᵀ (the tile's G) for each kernel g = w[o][c] of PyTorch's [O, C, 3, 3] `w`; with
/// `flipped` the kernel of the input gradient (rotated by 180°, channel axes swapped) as U [(tile + 2)²][O][C]. Only
/// the output channels [first, last) are written (concurrent calls over disjoint ranges).
void swiftcpc_winograd_weights(const float *w, float *u, int c, int o, int tile, int flipped, int first, int last);

/// dw [O, C, 3, 3] (PyTorch's layout) = Gᵀ dU G from the transformed gradient dU [(tile + 2)²][C][O].
void swiftcpc_winograd_weight_gradient(const float *du, float *dw, int c, int o, int tile);

/// The scratch floats one concurrent Winograd call with output tiles of `tile` needs for C input and O output channels.
size_t swiftcpc_winograd_scratch_floats(int c, int o, int tile);

/// Per channel j of the rows [rows, c] (channels-last): sums[j] += Σ_r v[r, j] and products[j] += Σ_r v[r, j]·b[r, j],
/// in double, rows in order, where v = a, or with `positive` non-null v = a·[positive > 0] (ReLU's backward), which is
/// also written to `masked` when that is non-null. Batch norm's statistics (a = b = x) and its backward sums.
void swiftcpc_channel_sums(const float *a, const float *positive, const float *b, float *masked, long rows, int c,
                           double *sums, double *products, int isa);

/// y[r, j] = x[r, j]·scale[j] + shift[j] (+ residual[r, j] when non-null) (then max(0, ·) when `relu`).
void swiftcpc_channel_affine(const float *x, const float *scale, const float *shift, const float *residual, int relu,
                             float *y, long rows, int c, int isa);

/// out[r, j] = s[j]·g[r, j] + k[j]·x[r, j] + k0[j]: batch norm's input gradient.
void swiftcpc_channel_combine(const float *g, const float *x, const float *s, const float *k, const float *k0,
                              float *out, long rows, int c, int isa);

/// The instruction set the kernels run with by default: "avx512", "avx2" or "baseline".
const char *swiftcpc_kernels_isa(void);

#endif
