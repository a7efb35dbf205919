#include "CPNG.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpng reports errors through a callback that must not return: jump back with the
 * message saved. Warnings are ignored (OpenCV ignores them too). */
typedef struct {
    char *error;
    size_t error_size;
} error_context;

static void fail(png_structp png, png_const_charp message) {
    error_context *context = png_get_error_ptr(png);
    if (context->error && context->error_size > 0) snprintf(context->error, context->error_size, "%s", message);
    png_longjmp(png, 1);
}

static void ignore(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t position;
} memory_source;

static void read_memory(png_structp png, png_bytep target, png_size_t count) {
    memory_source *source = png_get_io_ptr(png);
    if (count > source->size - source->position) png_error(png, "the PNG data ends early (truncated)");
    memcpy(target, source->data + source->position, count);
    source->position += count;
}

static int begin(const unsigned char *data, size_t size, png_structp *png, png_infop *info,
                 memory_source *source, error_context *context, char *error, size_t error_size) {
    context->error = error;
    context->error_size = error_size;
    if (error && error_size > 0) error[0] = 0;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        snprintf(error, error_size, "not a PNG signature");
        return -1;
    }
    *png = png_create_read_struct(PNG_LIBPNG_VER_STRING, context, fail, ignore);
    if (!*png) return -1;
    *info = png_create_info_struct(*png);
    if (!*info) {
        png_destroy_read_struct(png, NULL, NULL);
        return -1;
    }
    source->data = data;
    source->size = size;
    source->position = 0;
    png_set_read_fn(*png, source, read_memory);
    return 0;
}

int gannet_png_read_header(const unsigned char *data, size_t size, int *width, int *height,
                           char *error, size_t error_size) {
    png_structp png;
    png_infop info;
    memory_source source;
    error_context context;
    if (begin(data, size, &png, &info, &source, &context, error, error_size) != 0) return -1;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_read_info(png, info);
    *width = (int)png_get_image_width(png, info);
    *height = (int)png_get_image_height(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int gannet_png_decode_rgb(const unsigned char *data, size_t size, unsigned char *output,
                          char *error, size_t error_size) {
    png_structp png;
    png_infop info;
    memory_source source;
    error_context context;
    if (begin(data, size, &png, &info, &source, &context, error, error_size) != 0) return -1;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_read_info(png, info);
    png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    int colorType = png_get_color_type(png, info);
    int bitDepth = png_get_bit_depth(png, info);
    if (bitDepth == 16) png_set_strip_16(png);
    if (colorType == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (colorType == PNG_COLOR_TYPE_GRAY && bitDepth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (colorType == PNG_COLOR_TYPE_GRAY || colorType == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if (colorType & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)width * 3) png_error(png, "unsupported PNG pixel format");
    rows = malloc(sizeof(png_bytep) * height);
    if (!rows) png_error(png, "out of memory");
    for (png_uint_32 r = 0; r < height; r++) rows[r] = output + (size_t)r * width * 3;
    png_read_image(png, rows);
    free(rows);
    rows = NULL;
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
} memory_sink;

static void write_memory(png_structp png, png_bytep bytes, png_size_t count) {
    memory_sink *sink = png_get_io_ptr(png);
    if (sink->size + count > sink->capacity) {
        size_t capacity = sink->capacity * 2 > sink->size + count ? sink->capacity * 2 : sink->size + count;
        unsigned char *grown = realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, count);
    sink->size += count;
}

static void flush_memory(png_structp png) { (void)png; }

int gannet_png_encode(const unsigned char *pixels, int width, int height, int components, int compression,
                          unsigned char **output, size_t *output_size, char *error, size_t error_size) {
    error_context context = {error, error_size};
    if (error && error_size > 0) error[0] = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, fail, ignore);
    if (!png) return -1;
    png_infop info = png_create_info_struct(png);
    memory_sink sink = {NULL, 0, 0};
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(rows);
        free(sink.data);
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, &sink, write_memory, flush_memory);
    png_set_compression_level(png, compression);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, components == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) png_error(png, "out of memory");
    for (int r = 0; r < height; r++) rows[r] = (png_bytep)(pixels + (size_t)r * (size_t)width * (size_t)components);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    free(rows);
    rows = NULL;
    png_destroy_write_struct(&png, &info);
    *output = sink.data;
    *output_size = sink.size;
    return 0;
}
