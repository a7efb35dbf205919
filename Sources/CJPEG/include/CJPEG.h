#ifndef GANNET_CJPEG_H
#define GANNET_CJPEG_H
#include <stddef.h>

/// What a JPEG header says about the image.
typedef struct {
    int width;
    int height;
    /// Components in the file: 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK.
    int components;
    /// 1 when the file is progressive.
    int progressive;
} gannet_jpeg_info;

/// Reads the header of the JPEG in `data`. Returns 0, or -1 with a message in `error`.
int gannet_jpeg_read_header(const unsigned char *data, size_t size, gannet_jpeg_info *info,
                            char *error, size_t error_size);

/// Decodes a region of the JPEG in `data`, scaled by 1/`scale_denominator` in the DCT
/// (1, 2, 4 or 8: the scaled size is ceil(size / denominator)), to interleaved RGB8.
/// Grey expands to RGB; CMYK and YCCK (Adobe, inverted) convert to RGB.
/// The region `x, y, width, height` is in scaled pixels; `output` receives
/// `width * height * 3` bytes, rows packed. Rows above the region are skipped and rows
/// below it are never decoded; columns are cropped to whole iMCUs inside libjpeg.
/// Returns 0; 1 when the data was corrupt but decoding finished (message in `error`,
/// missing pixels grey); -1 on failure (message in `error`).
int gannet_jpeg_decode_rgb(const unsigned char *data, size_t size, int scale_denominator,
                           int x, int y, int width, int height, unsigned char *output,
                           char *error, size_t error_size);

/// Encodes interleaved RGB8 (`components` 3) or grey (`components` 1) as a baseline JPEG
/// (colour 4:2:0, `quality` 1–100). On success returns 0 and `*output` holds `*output_size`
/// bytes allocated with malloc (the caller frees it).
int gannet_jpeg_encode(const unsigned char *pixels, int width, int height, int components, int quality,
                           unsigned char **output, unsigned long *output_size,
                           char *error, size_t error_size);

#endif
