/*
 * fuzz_decoder.c — libFuzzer target for the PNG or JPEG decoder in Sources/CImageCodecs, built
 * by scripts/fuzz with clang -fsanitize=fuzzer,address,undefined and -DCIC_FUZZ_PNG or
 * -DCIC_FUZZ_JPEG. It calls the decoder the way Image.decode does: header first, then an
 * output buffer sized from the (bounded, plausible) header, then the decode.
 */
#include "cimagecodecs.h"
#include <stdlib.h>

#if defined(CIC_FUZZ_PNG)
#define CIC_INFO cic_png_info
#define CIC_DECODE cic_png_decode
#elif defined(CIC_FUZZ_JPEG)
#define CIC_INFO cic_jpeg_info
#define CIC_DECODE cic_jpeg_decode
#else
#error "define CIC_FUZZ_PNG or CIC_FUZZ_JPEG"
#endif

/* Small enough that every run stays fast; the bounding logic is the same at any size. */
#define MAX_PIXELS ((size_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
    cic_info info;
    char err[256];
    if (len == 0 || CIC_INFO(data, len, &info, err, sizeof err) != CIC_OK) return 0;
    size_t pixels = (size_t)info.width * info.height;
    if (pixels == 0 || pixels > MAX_PIXELS) return 0;
    size_t channels = info.channels_in <= 2 ? 1 : 3; /* gray stays one channel, as in Image.decode */
    float *out = (float *)malloc(pixels * channels * sizeof(float));
    if (!out) return 0;
    (void)CIC_DECODE(data, len, MAX_PIXELS, out, channels, pixels * channels, &info, err, sizeof err);
    free(out);
    return 0;
}
