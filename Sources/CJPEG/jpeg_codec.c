#include "CJPEG.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

/* libjpeg reports fatal errors through error_exit, which must not return: jump back to
 * the caller with the message saved. Warnings (corrupt but decodable data) are counted. */
typedef struct {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char *error;
    size_t error_size;
    int warnings;
} error_context;

static void save_message(j_common_ptr info) {
    error_context *context = (error_context *)info->err;
    if (context->error && context->error_size > 0) {
        char buffer[JMSG_LENGTH_MAX];
        info->err->format_message(info, buffer);
        snprintf(context->error, context->error_size, "%s", buffer);
    }
}

static void fail(j_common_ptr info) {
    save_message(info);
    longjmp(((error_context *)info->err)->jump, 1);
}

static void warn(j_common_ptr info, int level) {
    error_context *context = (error_context *)info->err;
    if (level < 0 && context->warnings++ == 0) save_message(info);
}

static void install(error_context *context, char *error, size_t error_size) {
    jpeg_std_error(&context->manager);
    context->manager.error_exit = fail;
    context->manager.emit_message = warn;
    context->error = error;
    context->error_size = error_size;
    context->warnings = 0;
    if (error && error_size > 0) error[0] = 0;
}

int gannet_jpeg_read_header(const unsigned char *data, size_t size, gannet_jpeg_info *info,
                            char *error, size_t error_size) {
    struct jpeg_decompress_struct decoder;
    error_context context;
    decoder.err = &context.manager;
    install(&context, error, error_size);
    if (setjmp(context.jump)) {
        jpeg_destroy_decompress(&decoder);
        return -1;
    }
    jpeg_create_decompress(&decoder);
    jpeg_mem_src(&decoder, data, (unsigned long)size);
    jpeg_read_header(&decoder, TRUE);
    info->width = (int)decoder.image_width;
    info->height = (int)decoder.image_height;
    info->components = decoder.num_components;
    info->progressive = decoder.progressive_mode ? 1 : 0;
    jpeg_destroy_decompress(&decoder);
    return 0;
}

int gannet_jpeg_decode_rgb(const unsigned char *data, size_t size, int scale_denominator,
                           int x, int y, int width, int height, unsigned char *output,
                           char *error, size_t error_size) {
    struct jpeg_decompress_struct decoder;
    error_context context;
    decoder.err = &context.manager;
    install(&context, error, error_size);
    JSAMPLE *volatile row = NULL;
    if (setjmp(context.jump)) {
        free(row);
        jpeg_destroy_decompress(&decoder);
        return -1;
    }
    jpeg_create_decompress(&decoder);
    jpeg_mem_src(&decoder, data, (unsigned long)size);
    jpeg_read_header(&decoder, TRUE);
    int isCMYK = decoder.jpeg_color_space == JCS_CMYK || decoder.jpeg_color_space == JCS_YCCK;
    decoder.out_color_space = isCMYK ? JCS_CMYK : JCS_RGB;
    decoder.scale_num = 1;
    decoder.scale_denom = (unsigned int)scale_denominator;
    decoder.dct_method = JDCT_ISLOW;
    jpeg_start_decompress(&decoder);
    if (x < 0 || y < 0 || width <= 0 || height <= 0 || x + width > (int)decoder.output_width
        || y + height > (int)decoder.output_height) {
        snprintf(error, error_size, "region %dx%d at (%d, %d) is outside the %ux%u image",
                 width, height, x, y, decoder.output_width, decoder.output_height);
        jpeg_destroy_decompress(&decoder);
        return -1;
    }
    /* Horizontal crop: libjpeg widens the window to whole iMCUs and reports where it starts.
     * Ask for 16 more pixels on each side: at the window's edges fancy upsampling would
     * otherwise see an image edge and the pixels would differ from a full decode. */
    int margin = 16;
    int wideStart = x > margin ? x - margin : 0;
    int wideEnd = x + width + margin < (int)decoder.output_width ? x + width + margin : (int)decoder.output_width;
    JDIMENSION cropStart = (JDIMENSION)wideStart, cropWidth = (JDIMENSION)(wideEnd - wideStart);
    if (cropWidth < decoder.output_width) jpeg_crop_scanline(&decoder, &cropStart, &cropWidth);
    int skip = x - (int)cropStart;
    int channels = decoder.output_components;
    row = malloc((size_t)decoder.output_width * (size_t)channels);
    if (!row) {
        snprintf(error, error_size, "out of memory");
        jpeg_destroy_decompress(&decoder);
        return -1;
    }
    if (y > 0) jpeg_skip_scanlines(&decoder, (JDIMENSION)y);
    /* RGB rows that need no cropping go straight into the output. */
    int isDirect = channels == 3 && skip == 0 && (int)decoder.output_width == width;
    for (int r = 0; r < height; r++) {
        unsigned char *target = output + (size_t)r * (size_t)width * 3;
        JSAMPROW rows[1] = {isDirect ? target : row};
        jpeg_read_scanlines(&decoder, rows, 1);
        if (isDirect) continue;
        const unsigned char *source = row + (size_t)skip * (size_t)channels;
        if (channels == 3) {
            memcpy(target, source, (size_t)width * 3);
        } else if (channels == 4) {
            /* Adobe CMYK is stored inverted: R = C·K/255 (as OpenCV converts it). */
            for (int i = 0; i < width; i++) {
                int k = source[4 * i + 3];
                target[3 * i] = (unsigned char)((source[4 * i] * k + 127) / 255);
                target[3 * i + 1] = (unsigned char)((source[4 * i + 1] * k + 127) / 255);
                target[3 * i + 2] = (unsigned char)((source[4 * i + 2] * k + 127) / 255);
            }
        } else {
            for (int i = 0; i < width; i++) target[3 * i] = target[3 * i + 1] = target[3 * i + 2] = source[i];
        }
    }
    free(row);
    row = NULL;
    int warnings = context.warnings;
    jpeg_abort_decompress(&decoder);
    jpeg_destroy_decompress(&decoder);
    return warnings > 0 ? 1 : 0;
}

int gannet_jpeg_encode(const unsigned char *pixels, int width, int height, int components, int quality,
                           unsigned char **output, unsigned long *output_size,
                           char *error, size_t error_size) {
    struct jpeg_compress_struct encoder;
    error_context context;
    encoder.err = &context.manager;
    install(&context, error, error_size);
    unsigned char *volatile buffer = NULL;
    unsigned long bufferSize = 0;
    if (setjmp(context.jump)) {
        jpeg_destroy_compress(&encoder);
        free(buffer);
        return -1;
    }
    jpeg_create_compress(&encoder);
    jpeg_mem_dest(&encoder, (unsigned char **)&buffer, &bufferSize);
    encoder.image_width = (JDIMENSION)width;
    encoder.image_height = (JDIMENSION)height;
    encoder.input_components = components;
    encoder.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&encoder);
    jpeg_set_quality(&encoder, quality, TRUE);
    jpeg_start_compress(&encoder, TRUE);
    while (encoder.next_scanline < encoder.image_height) {
        JSAMPROW rows[1] = {(JSAMPROW)(pixels + (size_t)encoder.next_scanline * (size_t)width * (size_t)components)};
        jpeg_write_scanlines(&encoder, rows, 1);
    }
    jpeg_finish_compress(&encoder);
    jpeg_destroy_compress(&encoder);
    *output = buffer;
    *output_size = bufferSize;
    return 0;
}
