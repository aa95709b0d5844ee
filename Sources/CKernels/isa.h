// The instruction-set dispatch shared by the kernel files (not part of the public header).
#ifndef SWIFTCPC_ISA_H
#define SWIFTCPC_ISA_H

/// The requested instruction set (0 baseline, 1 AVX2+FMA, 2 AVX-512; negative: the best), lowered to what the
/// processor has.
int swiftcpc_isa_level(int requested);

#endif
