/* png.c — PNG decoding from memory with libpng, every colour type and bit depth. */
#include "cimagecodecs.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cic_sniff(const uint8_t *data, size_t len) {
    static const uint8_t png_sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (len >= 8 && memcmp(data, png_sig, 8) == 0) return 1;
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return 2;
    return 0;
}

typedef struct cic_png_src {
    const uint8_t *data;
    size_t len, pos;
    char *err;
    size_t err_len;
} cic_png_src;

static void cic_png_read(png_structp png, png_bytep out, png_size_t n) {
    cic_png_src *s = (cic_png_src *)png_get_io_ptr(png);
    if (s->pos + n > s->len) png_error(png, "truncated PNG data");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static void cic_png_error(png_structp png, png_const_charp msg) {
    cic_png_src *s = (cic_png_src *)png_get_error_ptr(png);
    if (s && s->err && s->err_len) snprintf(s->err, s->err_len, "%s", msg);
    png_longjmp(png, 1);
}

static void cic_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static int cic_png_run(const uint8_t *data, size_t len, size_t max_pixels, float *out, size_t out_channels,
                       size_t out_len, cic_info *info, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (cic_sniff(data, len) != 1) {
        if (err && err_len) snprintf(err, err_len, "not a PNG file (bad signature)");
        return CIC_ERR_FORMAT;
    }
    cic_png_src src = {data, len, 0, err, err_len};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, cic_png_error, cic_png_warning);
    if (!png) return CIC_ERR_FORMAT;
    png_infop pinfo = png_create_info_struct(png);
    if (!pinfo) {
        png_destroy_read_struct(&png, NULL, NULL);
        return CIC_ERR_FORMAT;
    }
    /* volatile: modified between setjmp and a possible longjmp. */
    png_bytep volatile row = NULL;
    png_bytep *volatile rows = NULL;
    int volatile rc = CIC_ERR_FORMAT;
    if (setjmp(png_jmpbuf(png))) {
        free(row);
        free(rows);
        png_destroy_read_struct(&png, &pinfo, NULL);
        return rc == CIC_OK ? CIC_ERR_FORMAT : rc;
    }
    png_set_read_fn(png, &src, cic_png_read);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_read_info(png, pinfo);
    png_uint_32 w = png_get_image_width(png, pinfo), h = png_get_image_height(png, pinfo);
    int depth = png_get_bit_depth(png, pinfo), ctype = png_get_color_type(png, pinfo);
    info->width = w;
    info->height = h;
    info->bit_depth = depth == 16 ? 16 : 8;
    info->channels_in = ctype == PNG_COLOR_TYPE_GRAY ? 1 : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                      : ctype == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 3;
    {
        /* Deflate cannot expand data more than 1032-fold, so the rows the header claims must
         * fit in 1032 x the file's length: otherwise the file is truncated or hostile, and
         * nothing is allocated for it. */
        uint64_t bits = (uint64_t)w * (uint64_t)depth *
                        (uint64_t)(ctype == PNG_COLOR_TYPE_GRAY ? 1 : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                   : ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 1);
        uint64_t raw = (uint64_t)h * (1 + (bits + 7) / 8);
        if (raw / 1032 > (uint64_t)len) {
            if (err && err_len)
                snprintf(err, err_len, "the header claims %u x %u pixels, more than the file's %zu bytes can hold (truncated or hostile file)",
                         w, h, len);
            rc = CIC_ERR_IMPLAUSIBLE;
            png_longjmp(png, 1);
        }
    }
    if (out == NULL) { /* header only */
        png_destroy_read_struct(&png, &pinfo, NULL);
        return CIC_OK;
    }
    if ((size_t)w * (size_t)h > max_pixels) {
        if (err && err_len) snprintf(err, err_len, "image of %u x %u pixels is over the limit", w, h);
        rc = CIC_ERR_TOO_LARGE;
        png_longjmp(png, 1);
    }
    if ((out_channels != 1 && out_channels != 3) || (size_t)w * (size_t)h * out_channels > out_len) {
        rc = CIC_ERR_BUFFER;
        png_longjmp(png, 1);
    }
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png); /* also drops tRNS-derived alpha: alpha is ignored */
    if (depth == 16) png_set_swap(png); /* little-endian 16-bit samples */
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    size_t channels = png_get_channels(png, pinfo);
    size_t rowbytes = png_get_rowbytes(png, pinfo);
    int is16 = png_get_bit_depth(png, pinfo) == 16;
    if (channels != 1 && channels != 3) png_error(png, "unexpected channel count after transforms");
    if (out_channels == 1 && channels != 1) {
        rc = CIC_ERR_BUFFER; /* one channel asked of a colour image */
        png_longjmp(png, 1);
    }
    if (passes > 1) {
        /* Interlaced: needs the whole image; decode into a full buffer. */
        row = (png_bytep)malloc(rowbytes * h);
        if (!row) png_error(png, "out of memory");
        rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
        if (!rows) png_error(png, "out of memory");
        for (png_uint_32 y = 0; y < h; y++) rows[y] = row + (size_t)y * rowbytes;
        png_read_image(png, rows);
        free(rows);
        rows = NULL;
    } else {
        row = (png_bytep)malloc(rowbytes);
        if (!row) png_error(png, "out of memory");
    }
    const float inv = is16 ? 1.f / 65535.f : 1.f / 255.f;
    for (png_uint_32 y = 0; y < h; y++) {
        png_bytep r = row;
        if (passes > 1) r = row + (size_t)y * rowbytes;
        else png_read_row(png, r, NULL);
        float *o = out + (size_t)y * w * out_channels;
        if (!is16 && channels == out_channels) {
            /* 8-bit samples as they are: one flat loop the compiler vectorises. */
            for (size_t i = 0; i < (size_t)w * channels; i++) o[i] = (float)r[i] * inv;
            continue;
        }
        for (png_uint_32 x = 0; x < w; x++) {
            for (size_t c = 0; c < out_channels; c++) {
                size_t sc = channels == 1 ? 0 : c;
                size_t idx = (size_t)x * channels + sc;
                float v = is16 ? (float)((uint16_t)r[2 * idx] | ((uint16_t)r[2 * idx + 1] << 8))
                               : (float)r[idx];
                o[(size_t)x * out_channels + c] = v * inv;
            }
        }
    }
    png_read_end(png, NULL);
    free(row);
    row = NULL;
    png_destroy_read_struct(&png, &pinfo, NULL);
    return CIC_OK;
}

int cic_png_info(const uint8_t *data, size_t len, cic_info *info, char *err, size_t err_len) {
    return cic_png_run(data, len, 0, NULL, 3, 0, info, err, err_len);
}

int cic_png_decode(const uint8_t *data, size_t len, size_t max_pixels, float *out, size_t out_channels,
                   size_t out_len, cic_info *info, char *err, size_t err_len) {
    if (!out) return CIC_ERR_BUFFER;
    return cic_png_run(data, len, max_pixels, out, out_channels, out_len, info, err, err_len);
}

/* ---------------------------------------------------------------- encoding */

typedef struct cic_png_sink {
    uint8_t *out;
    size_t cap, len;
    int overflow;
    char *err;
    size_t err_len;
} cic_png_sink;

static void cic_png_write(png_structp png, png_bytep data, png_size_t n) {
    cic_png_sink *s = (cic_png_sink *)png_get_io_ptr(png);
    if (s->len + n > s->cap) {
        s->overflow = 1;
        png_error(png, "output buffer too small");
    }
    memcpy(s->out + s->len, data, n);
    s->len += n;
}

static void cic_png_flush(png_structp png) { (void)png; }

static void cic_png_write_error(png_structp png, png_const_charp msg) {
    cic_png_sink *s = (cic_png_sink *)png_get_error_ptr(png);
    if (s && s->err && s->err_len) snprintf(s->err, s->err_len, "%s", msg);
    png_longjmp(png, 1);
}

size_t cic_png_encode_bound(uint32_t width, uint32_t height) {
    const size_t raw = (size_t)height * ((size_t)width * 3 + 1);
    return raw + raw / 8 + 4096;
}

int cic_png_encode_rgb8(uint32_t width, uint32_t height, const uint8_t *rgb, int level, uint8_t *out, size_t out_cap,
                        size_t *out_len, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    *out_len = 0;
    cic_png_sink sink = {out, out_cap, 0, 0, err, err_len};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, cic_png_write_error, cic_png_warning);
    if (!png) return CIC_ERR_FORMAT;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return CIC_ERR_FORMAT;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return sink.overflow ? CIC_ERR_BUFFER : CIC_ERR_FORMAT;
    }
    png_set_write_fn(png, &sink, cic_png_write, cic_png_flush);
    png_set_compression_level(png, level < 0 ? 0 : level > 9 ? 9 : level);
    /* Fast levels use the Sub filter alone instead of trying every filter on every row. */
    /* Level 0 stores the rows unfiltered: a few hundred microseconds for an image that zlib's
     * fastest level takes milliseconds to compress. */
    if (level == 0) png_set_filter(png, 0, PNG_FILTER_NONE);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out_len = sink.len;
    return CIC_OK;
}
