// libjpeg-turbo's TurboJPEG API: baseline and progressive JPEG, decoded to 8-bit grey or RGB.
#ifndef SWIFTCPC_CTURBOJPEG_SHIM_H
#define SWIFTCPC_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
