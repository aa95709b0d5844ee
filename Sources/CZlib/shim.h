// zlib's gzip reader, for the gzipped IDX files of (Fashion-)MNIST.
#ifndef SWIFTCPC_CZLIB_SHIM_H
#define SWIFTCPC_CZLIB_SHIM_H
#include <zlib.h>
#endif
