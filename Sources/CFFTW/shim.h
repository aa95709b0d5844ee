// FFTW, single precision (fftwf_*). Only fftwf_execute* is thread-safe: plan creation must be serialised by callers.
#ifndef SWIFTCPC_CFFTW_SHIM_H
#define SWIFTCPC_CFFTW_SHIM_H
#include <fftw3.h>
#endif
