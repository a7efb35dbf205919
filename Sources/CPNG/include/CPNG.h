#ifndef GANNET_CPNG_H
#define GANNET_CPNG_H
#include <stddef.h>

/// Reads the size of the PNG in `data`. Returns 0, or -1 with a message in `error`.
int gannet_png_read_header(const unsigned char *data, size_t size, int *width, int *height,
                           char *error, size_t error_size);

/// Decodes the PNG in `data` to interleaved RGB8 in `output` (`width * height * 3` bytes):
/// palette expanded, grey expanded to RGB, alpha dropped, 16-bit reduced to its high byte
/// (as OpenCV's colour decode does). Returns 0, or -1 with a message in `error`.
int gannet_png_decode_rgb(const unsigned char *data, size_t size, unsigned char *output,
                          char *error, size_t error_size);

/// Encodes interleaved RGB8 (`components` 3) or grey (`components` 1) as PNG with zlib
/// `compression` 0–9. On success returns 0 and `*output` holds `*output_size` bytes
/// allocated with malloc (the caller frees it).
int gannet_png_encode(const unsigned char *pixels, int width, int height, int components, int compression,
                          unsigned char **output, size_t *output_size, char *error, size_t error_size);

#endif
