// libpng through its simplified API: any PNG (palette, grey, grey+alpha, RGB, RGBA; 1–16 bits) read as 8-bit
// grey or RGB. Function-like macros do not import into Swift, so the one call is wrapped here.
#ifndef SWIFTCPC_CPNG_SHIM_H
#define SWIFTCPC_CPNG_SHIM_H
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// Reads `size` bytes of PNG data. On success returns 0 and fills width, height, channels (1 or 3) and *pixels
/// (malloc'ed, row-major HWC, 8 bits; the caller frees it). On failure returns -1 and copies libpng's reason into
/// `message` (at most `capacity` bytes). An image of more than `max_pixels` pixels is refused before any allocation.
static inline int swiftcpc_png_decode(const unsigned char *data, size_t size, size_t max_pixels, int *width, int *height,
                                      int *channels, unsigned char **pixels, char *message, size_t capacity) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        strncpy(message, image.message, capacity - 1);
        message[capacity - 1] = 0;
        return -1;
    }
    if ((size_t)image.width * (size_t)image.height > max_pixels) {
        snprintf(message, capacity, "the header claims %u x %u pixels, more than the %zu an image may have",
                 image.width, image.height, max_pixels);
        png_image_free(&image);
        return -1;
    }
    int color = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
    // 16-bit files are read as they are (the simplified API would otherwise treat them as linear light and
    // gamma-encode them); their values are then rounded to 8 bits here, v / 257.
    int wide = (image.format & PNG_FORMAT_FLAG_LINEAR) != 0;
    image.format = (color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) | (wide ? PNG_FORMAT_FLAG_LINEAR : 0);
    size_t bytes = PNG_IMAGE_SIZE(image);
    unsigned char *buffer = (unsigned char *)malloc(bytes > 0 ? bytes : 1);
    if (buffer == NULL) {
        png_image_free(&image);
        strncpy(message, "out of memory", capacity - 1);
        return -1;
    }
    // Transparent pixels are composed over black (background NULL).
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        strncpy(message, image.message, capacity - 1);
        message[capacity - 1] = 0;
        free(buffer);
        png_image_free(&image);
        return -1;
    }
    if (wide) {
        const png_uint_16 *wide_pixels = (const png_uint_16 *)buffer;
        size_t count = bytes / 2;
        for (size_t i = 0; i < count; i++) buffer[i] = (unsigned char)((wide_pixels[i] + 128) / 257);
    }
    *width = (int)image.width;
    *height = (int)image.height;
    *channels = color ? 3 : 1;
    *pixels = buffer;
    png_image_free(&image);
    return 0;
}
#endif
