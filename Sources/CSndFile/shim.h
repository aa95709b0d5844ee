// libsndfile: decoding of WAV, FLAC, OGG/Vorbis and the other formats it reads.
#ifndef SWIFTCPC_CSNDFILE_SHIM_H
#define SWIFTCPC_CSNDFILE_SHIM_H
#include <sndfile.h>
#endif
