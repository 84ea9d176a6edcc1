// A decoded image: float32 RGB in [0, 1], height x width x 3 (docs/METHOD.md 1.1).
import CImageCodecs
import Foundation

/// A decoded RGB image with samples in [0, 1], stored row-major as height x width x 3.
///
///     let img = try Image.decode(contentsOf: URL(fileURLWithPath: "part.png"))
///     print(img.width, img.height)
public struct Image: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Samples, `(y * width + x) * 3 + channel`.
    public var pixels: [Float]

    /// Creates an image from HWC RGB samples.
    public init(width: Int, height: Int, pixels: [Float]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Reads and decodes a PNG or JPEG file. Images over `limits.maxImagePixels`, and files
    /// whose header claims more pixels than their bytes can encode, are refused before any
    /// allocation, so decoding memory follows the file, never what its header claims.
    /// - Throws: `GaussianADError.unreadableFile` or `.badImage` naming the file.
    public static func decode(contentsOf url: URL, limits: InputLimits = .default) throws -> Image {
        try decode(data: Data(try FileBytes.read(url)), name: url.path, limits: limits)
    }

    /// Decodes PNG or JPEG bytes; `name` is used in error messages.
    public static func decode(data: Data, name: String = "<memory>", limits: InputLimits = .default) throws -> Image {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Image in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress, raw.count > 0 else {
                throw GaussianADError.badImage(path: name, reason: "the file is empty")
            }
            let kind = cic_sniff(base, raw.count)
            guard kind == 1 || kind == 2 else {
                throw GaussianADError.badImage(path: name, reason: "neither PNG nor JPEG (unknown signature)")
            }
            var info = cic_info()
            var err = [CChar](repeating: 0, count: 256)
            let rcInfo = kind == 1 ? cic_png_info(base, raw.count, &info, &err, err.count)
                                   : cic_jpeg_info(base, raw.count, &info, &err, err.count)
            guard rcInfo == CIC_OK else {
                throw GaussianADError.badImage(path: name, reason: message(err, fallback: "corrupt header"))
            }
            let pixelCount = Int(info.width) * Int(info.height)
            let maxPixels = limits.maxImagePixels
            guard pixelCount > 0 else { throw GaussianADError.badImage(path: name, reason: "zero-sized image") }
            guard pixelCount <= maxPixels else {
                throw GaussianADError.badImage(path: name, reason: "\(info.width) x \(info.height) = \(pixelCount) pixels is over the limit of \(maxPixels); raise it with --max-image-pixels or GAUSSIAN_AD_MAX_IMAGE_PIXELS if the image is genuine")
            }
            var out = [Float](repeating: 0, count: pixelCount * 3)
            let rc = out.withUnsafeMutableBufferPointer { o in
                kind == 1
                    ? cic_png_decode(base, raw.count, maxPixels, o.baseAddress, o.count, &info, &err, err.count)
                    : cic_jpeg_decode(base, raw.count, maxPixels, o.baseAddress, o.count, &info, &err, err.count)
            }
            guard rc == CIC_OK else {
                throw GaussianADError.badImage(path: name, reason: message(err, fallback: "corrupt or truncated data"))
            }
            return Image(width: Int(info.width), height: Int(info.height), pixels: out)
        }
    }

    private static func message(_ err: [CChar], fallback: String) -> String {
        let s = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return s.isEmpty ? fallback : s
    }
}
