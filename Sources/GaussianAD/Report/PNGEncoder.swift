// A minimal PNG writer (8-bit RGB, stored deflate blocks) for report thumbnails and generated test data.
import CKernels
import Foundation

/// Writes 8-bit RGB PNG files (stored deflate blocks: large but simple and fast).
public enum PNGEncoder {
    private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xffff_ffff
    }

    private static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let td = Array(type.utf8) + data
        return be32(UInt32(data.count)) + td + be32(crc32(td))
    }

    /// PNG bytes of an RGB image given as floats in [0, 1] (HWC).
    public static func encode(width: Int, height: Int, rgb: [Float]) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (width * 3 + 1))
        for y in 0..<height {
            raw.append(0)
            for i in (y * width * 3)..<((y + 1) * width * 3) { raw.append(UInt8(max(0, min(255, (rgb[i] * 255).rounded())))) }
        }
        var z: [UInt8] = [0x78, 0x01]
        var pos = 0
        repeat {
            let n = min(65535, raw.count - pos)
            z.append(pos + n == raw.count ? 1 : 0)
            z += [UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            z += raw[pos..<(pos + n)]
            pos += n
        } while pos < raw.count
        var a: UInt32 = 1, b: UInt32 = 0
        for v in raw { a = (a + UInt32(v)) % 65521; b = (b + a) % 65521 }
        z += be32((b << 16) | a)
        let ihdr = be32(UInt32(width)) + be32(UInt32(height)) + [8, 2, 0, 0, 0]
        return [137, 80, 78, 71, 13, 10, 26, 10] + chunk("IHDR", ihdr) + chunk("IDAT", z) + chunk("IEND", [])
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

