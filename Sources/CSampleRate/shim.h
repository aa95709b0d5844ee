// libsamplerate (Secret Rabbit Code): band-limited sample-rate conversion.
#ifndef SWIFTCPC_CSAMPLERATE_SHIM_H
#define SWIFTCPC_CSAMPLERATE_SHIM_H
#include <samplerate.h>
#endif
