/* jpeg.c — JPEG decoding from memory with libjpeg-turbo (islow DCT, fancy upsampling). */
#include "cimagecodecs.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

typedef struct cic_jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *err;
    size_t err_len;
} cic_jpeg_err;

static void cic_jpeg_exit(j_common_ptr cinfo) {
    cic_jpeg_err *e = (cic_jpeg_err *)cinfo->err;
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    if (e->err && e->err_len) snprintf(e->err, e->err_len, "%s", buf);
    longjmp(e->jump, 1);
}

static void cic_jpeg_silent(j_common_ptr cinfo, int level) {
    (void)cinfo;
    (void)level;
}

/* Progressive files may repeat scans without end; each costs a pass over the image. */
#define CIC_JPEG_MAX_SCANS 500

static void cic_jpeg_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > CIC_JPEG_MAX_SCANS) {
        cic_jpeg_err *e = (cic_jpeg_err *)cinfo->err;
        if (e->err && e->err_len)
            snprintf(e->err, e->err_len, "more than %d progressive scans (hostile file?)", CIC_JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

/* Premature end of data is an error here, not a warning with gray fill. */
static void cic_jpeg_emit(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) cic_jpeg_exit(cinfo);
    cic_jpeg_silent(cinfo, level);
}

static int cic_jpeg_run(const uint8_t *data, size_t len, size_t max_pixels, float *out, size_t out_channels,
                        size_t out_len, cic_info *info, char *err, size_t err_len) {
    if (err && err_len) err[0] = 0;
    if (cic_sniff(data, len) != 2) {
        if (err && err_len) snprintf(err, err_len, "not a JPEG file (no SOI marker)");
        return CIC_ERR_FORMAT;
    }
    struct jpeg_decompress_struct cinfo;
    cic_jpeg_err jerr;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = cic_jpeg_exit;
    jerr.pub.emit_message = cic_jpeg_emit;
    jerr.err = err;
    jerr.err_len = err_len;
    JSAMPLE *volatile row = NULL;
    int volatile rc = CIC_ERR_FORMAT;
    if (setjmp(jerr.jump)) {
        free(row);
        jpeg_destroy_decompress(&cinfo);
        return rc == CIC_OK ? CIC_ERR_FORMAT : rc;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    info->width = cinfo.image_width;
    info->height = cinfo.image_height;
    info->bit_depth = 8;
    info->channels_in = (uint32_t)cinfo.num_components;
    if (cinfo.arith_code) {
        if (err && err_len) snprintf(err, err_len, "arithmetic-coded JPEG is not supported");
        jpeg_destroy_decompress(&cinfo);
        return CIC_ERR_FORMAT;
    }
    {
        /* Every 8 x 8 block of the full-resolution component costs at least one bit of
         * Huffman-coded data, so the header's size must fit in 8 x 64 x the file's length:
         * otherwise the file is truncated or hostile, and nothing is allocated for it. */
        uint64_t blocks = ((uint64_t)cinfo.image_width + 7) / 8 * (((uint64_t)cinfo.image_height + 7) / 8);
        if (blocks / 8 > (uint64_t)len) {
            if (err && err_len)
                snprintf(err, err_len, "the header claims %u x %u pixels, more than the file's %zu bytes can hold (truncated or hostile file)",
                         cinfo.image_width, cinfo.image_height, len);
            jpeg_destroy_decompress(&cinfo);
            return CIC_ERR_IMPLAUSIBLE;
        }
    }
    if (out == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return CIC_OK;
    }
    if ((size_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        if (err && err_len)
            snprintf(err, err_len, "image of %u x %u pixels is over the limit", cinfo.image_width,
                     cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        return CIC_ERR_TOO_LARGE;
    }
    if ((out_channels != 1 && out_channels != 3) || (size_t)cinfo.image_width * cinfo.image_height * out_channels > out_len
        || (out_channels == 1 && cinfo.jpeg_color_space != JCS_GRAYSCALE)) {
        jpeg_destroy_decompress(&cinfo);
        return CIC_ERR_BUFFER;
    }
    if (cinfo.jpeg_color_space == JCS_GRAYSCALE) cinfo.out_color_space = JCS_GRAYSCALE;
    else if (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB)
        cinfo.out_color_space = JCS_RGB;
    else {
        if (err && err_len) snprintf(err, err_len, "unsupported JPEG colour space (CMYK/YCCK)");
        jpeg_destroy_decompress(&cinfo);
        return CIC_ERR_FORMAT;
    }
    /* libjpeg's own buffers (whole-image coefficients for progressive files) stay
     * proportional to the image: past this it fails instead of allocating. */
    cinfo.mem->max_memory_to_use = (long)((size_t)cinfo.image_width * cinfo.image_height * 8 * (size_t)cinfo.num_components + (64u << 20));
    struct jpeg_progress_mgr progress = {cic_jpeg_progress, 0, 0, 0, 0};
    cinfo.progress = &progress;
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    size_t w = cinfo.output_width, nc = (size_t)cinfo.output_components;
    row = (JSAMPLE *)malloc(w * nc);
    if (!row) {
        jpeg_destroy_decompress(&cinfo);
        return CIC_ERR_FORMAT;
    }
    const float inv = 1.f / 255.f;
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
        float *o = out + y * w * out_channels;
        if (nc == out_channels) {
            for (size_t i = 0; i < w * nc; i++) o[i] = (float)row[i] * inv;
            continue;
        }
        for (size_t x = 0; x < w; x++)
            for (size_t c = 0; c < out_channels; c++) o[x * out_channels + c] = (float)row[x * nc + (nc == 1 ? 0 : c)] * inv;
    }
    /* Rows the decoder did not deliver are black, so that every sample of out is written. */
    for (size_t y = cinfo.output_scanline; y < cinfo.output_height; y++)
        for (size_t i = 0; i < w * out_channels; i++) out[y * w * out_channels + i] = 0.0f;
    jpeg_finish_decompress(&cinfo);
    free(row);
    row = NULL;
    jpeg_destroy_decompress(&cinfo);
    return CIC_OK;
}

int cic_jpeg_info(const uint8_t *data, size_t len, cic_info *info, char *err, size_t err_len) {
    return cic_jpeg_run(data, len, 0, NULL, 3, 0, info, err, err_len);
}

int cic_jpeg_decode(const uint8_t *data, size_t len, size_t max_pixels, float *out, size_t out_channels,
                    size_t out_len, cic_info *info, char *err, size_t err_len) {
    if (!out) return CIC_ERR_BUFFER;
    return cic_jpeg_run(data, len, max_pixels, out, out_channels, out_len, info, err, err_len);
}
