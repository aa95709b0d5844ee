// The instruction-set variants shared by the kernel files (not part of the public header): each file writes its
// kernels once as always-inline bodies, defines DEFINE_VARIANT(suffix, attributes, fused, pix, wide) to wrap them
// in functions named <kernel>_<suffix>, instantiates them with SWIFTCPC_INSTANTIATE, and its entry points call
// SWIFTCPC_DISPATCH.
#ifndef SWIFTCPC_ISA_H
#define SWIFTCPC_ISA_H

/// The requested instruction set (0 baseline, 1 AVX2+FMA, 2 AVX-512; negative: the best), lowered to what the
/// processor has.
int swiftcpc_isa_level(int requested);

#if defined(__x86_64__)
/// The three variants: `fused` says whether vector fma is an instruction (without FMA it would become libm calls);
/// `pix` and `wide` are the register blocking (8 pixels × 2 vectors fill AVX-512's 32 registers; with AVX2 a
/// 16-float vector takes two of only 16 registers, so 4 × 1).
#define SWIFTCPC_INSTANTIATE(DEFINE)                                                                                  \
    DEFINE(baseline, , 0, 4, 0)                                                                                       \
    DEFINE(avx2, __attribute__((target("avx2,fma"))), 1, 4, 0)                                                        \
    DEFINE(avx512, __attribute__((target("avx512f,avx512vl,avx2,fma"))), 1, 8, 1)
/// Calls name_avx512, name_avx2 or name_baseline with the arguments, as the entry point's `isa` asks, and returns.
#define SWIFTCPC_DISPATCH(name, ...)                                                                                  \
    do {                                                                                                              \
        switch (swiftcpc_isa_level(isa)) {                                                                            \
        case 2: name##_avx512(__VA_ARGS__); return;                                                                   \
        case 1: name##_avx2(__VA_ARGS__); return;                                                                     \
        default: name##_baseline(__VA_ARGS__); return;                                                                \
        }                                                                                                             \
    } while (0)
#else
#define SWIFTCPC_INSTANTIATE(DEFINE) DEFINE(baseline, , 0, 4, 0)
#define SWIFTCPC_DISPATCH(name, ...)                                                                                  \
    do {                                                                                                              \
        (void)isa;                                                                                                    \
        name##_baseline(__VA_ARGS__);                                                                                 \
        return;                                                                                                       \
    } while (0)
#endif

#endif
