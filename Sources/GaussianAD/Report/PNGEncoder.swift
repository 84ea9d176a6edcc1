// A PNG writer (8-bit RGB through libpng) for overlays, report thumbnails and generated test data.
import CImageCodecs
import CKernels
import Foundation

/// Writes 8-bit RGB PNG files through libpng.
public enum PNGEncoder {
    /// PNG bytes of an RGB image given as floats in [0, 1] (HWC), compressed at zlib `level`.
    public static func encode(width: Int, height: Int, rgb: [Float], level: Int = 6) -> [UInt8] {
        encode(width: width, height: height, rgb8: rgb.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }, level: level)
    }

    /// PNG bytes of 8-bit RGB pixels (HWC), compressed at zlib `level`.
    public static func encode(width: Int, height: Int, rgb8: [UInt8], level: Int = 6) -> [UInt8] {
        precondition(rgb8.count == width * height * 3, "PNGEncoder: \(rgb8.count) samples for \(width) x \(height) RGB")
        let cap = cic_png_encode_bound(UInt32(width), UInt32(height))
        var err = [CChar](repeating: 0, count: 128)
        // The bound always suffices, and an in-memory write has no other way to fail.
        return [UInt8](unsafeUninitializedCapacity: cap) { b, count in
            var n = 0
            _ = cic_png_encode_rgb8(UInt32(width), UInt32(height), rgb8, Int32(level), b.baseAddress!, cap, &n, &err, err.count)
            count = n
        }
    }

    /// A `data:` URI of a thumbnail of the image at `url` (longest side `size`), or nil if unreadable.
    static func thumbnailURI(_ url: URL, size: Int) -> String? {
        guard let img = try? Image.decode(contentsOf: url) else { return nil }
        let s = Double(size) / Double(max(img.width, img.height))
        let w = max(1, Int((Double(img.width) * s).rounded())), h = max(1, Int((Double(img.height) * s).rounded()))
        var scratch = [Float](repeating: 0, count: img.height * w * img.channels)
        var out = [Float](repeating: 0, count: w * h * 3)
        let mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]
        if img.channels == 1 {
            ck_f32_resize_aa_grey_to_rgb(img.height, img.width, img.pixels, h, w, mean, std, &scratch, &out)
        } else {
            ck_f32_resize_aa_normalize_hwc(img.height, img.width, 3, img.pixels, h, w, mean, std, &scratch, &out)
        }
        return "data:image/png;base64," + Data(encode(width: w, height: h, rgb: out)).base64EncodedString()
    }
}

