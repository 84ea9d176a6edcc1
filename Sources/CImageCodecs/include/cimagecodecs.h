/*
 * cimagecodecs.h — PNG and JPEG decoding from memory through libpng and libjpeg-turbo, and PNG
 * encoding of 8-bit RGB (overlays, report thumbnails) into memory.
 *
 * Decoders write float32 HWC in [0, 1] (docs/METHOD.md 1.1): 8-bit samples / 255, 16-bit
 * samples / 65535; alpha dropped; palettes expanded. out_channels 3 writes RGB (gray replicated
 * to three channels); out_channels 1 writes a gray image's one channel (and fails with
 * CIC_ERR_BUFFER on a colour image: ask for 1 only where info.channels_in is 1 or 2).
 * libpng / libjpeg errors are caught here (setjmp stays inside C) and returned as codes with
 * a message in `err` (NUL-terminated, at most err_len bytes).
 */
#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Result codes. */
enum {
    CIC_OK = 0,
    CIC_ERR_FORMAT = 1,   /**< corrupt or truncated data, or an unsupported variant */
    CIC_ERR_TOO_LARGE = 2,/**< width * height over the limit given */
    CIC_ERR_BUFFER = 3,   /**< output buffer too small */
    CIC_ERR_IMPLAUSIBLE = 4, /**< the header claims more pixels than the file's bytes can encode */
};

/** Image header: size and a hint of the source format. */
typedef struct cic_info {
    uint32_t width, height;
    uint32_t channels_in; /**< channels in the file (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; palette 3) */
    uint32_t bit_depth;   /**< 8 or 16 */
} cic_info;

/** 1 if the bytes start with the PNG signature, 2 for a JPEG SOI marker, 0 otherwise. */
int cic_sniff(const uint8_t *data, size_t len);

/**
 * Reads the PNG header. Fails with CIC_ERR_IMPLAUSIBLE when the rows it claims could not be
 * encoded in `len` bytes (deflate expands at most 1032-fold), so that a caller never sizes
 * an allocation from a header the data cannot back.
 */
int cic_png_info(const uint8_t *data, size_t len, cic_info *info, char *err, size_t err_len);

/**
 * Decodes a PNG into out (width * height * out_channels floats, HWC; out_len floats at most).
 * max_pixels bounds width * height before anything is allocated.
 */
int cic_png_decode(const uint8_t *data, size_t len, size_t max_pixels, float *out, size_t out_channels,
                   size_t out_len, cic_info *info, char *err, size_t err_len);

/**
 * Reads the JPEG header. Fails with CIC_ERR_IMPLAUSIBLE when the image it claims could not be
 * encoded in `len` bytes (at least one bit per 8 x 8 block), and with CIC_ERR_FORMAT for
 * arithmetic-coded files, for which no such bound exists.
 */
int cic_jpeg_info(const uint8_t *data, size_t len, cic_info *info, char *err, size_t err_len);

/**
 * Decodes a JPEG (baseline or progressive, gray or YCbCr) into out (width * height *
 * out_channels floats, HWC; out_len floats at most).
 * libjpeg's own memory is capped in proportion to the image, and progressive files with more
 * than 500 scans are refused.
 */
int cic_jpeg_decode(const uint8_t *data, size_t len, size_t max_pixels, float *out, size_t out_channels,
                    size_t out_len, cic_info *info, char *err, size_t err_len);

/** Bytes cic_png_encode_rgb8 may need for a width x height image. */
size_t cic_png_encode_bound(uint32_t width, uint32_t height);

/**
 * Encodes width x height 8-bit RGB pixels (rgb, HWC) as a PNG with zlib compression `level`
 * (0-9; 0 stores the rows unfiltered and uncompressed, the fastest; above, libpng chooses a
 * filter per row) into out (out_cap bytes, cic_png_encode_bound is always enough); *out_len receives the
 * file's length. Returns CIC_OK, or CIC_ERR_BUFFER when out is too small.
 */
int cic_png_encode_rgb8(uint32_t width, uint32_t height, const uint8_t *rgb, int level, uint8_t *out, size_t out_cap,
                        size_t *out_len, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif
