// CBLAS from OpenBLAS, plus the few LAPACK routines the core uses, declared by hand with the Fortran calling
// convention (OpenBLAS exports them). Declaring them here avoids LAPACKE, whose complex types do not import into Swift.
#ifndef SWIFTCPC_CBLAS_SHIM_H
#define SWIFTCPC_CBLAS_SHIM_H
#include <cblas.h>

/// Cholesky factorisation of a symmetric positive-definite matrix (column-major).
void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
/// Symmetric eigendecomposition, divide and conquer (column-major).
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
             float *work, const int *lwork, int *iwork, const int *liwork, int *info);

// glibc's allocator tuning (malloc.h is not part of Swift's Glibc module); used by TensorStorage.
#if defined(__GLIBC__)
#include <malloc.h>
/// Serve every block from the heap and never trim it, so freed tensor buffers are reused without page faults.
static inline void swiftcpc_keep_freed_memory(void) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1); // int -1 becomes SIZE_MAX: never trim
}
#else
static inline void swiftcpc_keep_freed_memory(void) {}
#endif

/// The OpenBLAS core type to ask for on a processor this OpenBLAS build does not recognise (it then falls back to
/// its SSE3 "Prescott" kernels, 1.5–2× slower): "SkylakeX" with AVX-512, "Haswell" with AVX2 and FMA, else NULL.
static inline const char *swiftcpc_suggested_blas_core(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return 0;
}
char *openblas_get_corename(void);
#endif
