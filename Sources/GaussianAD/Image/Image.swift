// A decoded image: float32 samples in [0, 1], height x width x channels, RGB or one grey
// channel (docs/METHOD.md 1.1).
import CImageCodecs
import Foundation

/// A decoded image with samples in [0, 1], stored row-major as height x width x `channels`:
/// three (RGB) for a colour file, one for a grey one (the network sees it as R = G = B).
///
///     let img = try Image.decode(contentsOf: URL(fileURLWithPath: "part.png"))
///     print(img.width, img.height, img.channels)
public struct Image: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// Samples per pixel: 3 (RGB) or 1 (grey).
    public let channels: Int
    /// Samples, `(y * width + x) * channels + channel`.
    public var pixels: [Float]

    /// Creates an image from HWC RGB samples.
    public init(width: Int, height: Int, pixels: [Float]) {
        self.init(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Creates an image from HWC samples with `channels` (1 or 3) per pixel.
    public init(width: Int, height: Int, channels: Int, pixels: [Float]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The samples as RGB, `(y * width + x) * 3 + channel` (a grey image's channel three times).
    public var rgbPixels: [Float] {
        channels == 3 ? pixels : pixels.flatMap { [$0, $0, $0] }
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
            // A grey file (with or without alpha, which is dropped) stays one channel. The decoder
            // writes every sample before returning success: no zeroing.
            let channels = info.channels_in <= 2 ? 1 : 3
            let floats = pixelCount * channels
            var out = [Float](unsafeUninitializedCapacity: floats) { _, n in n = floats }
            let rc = out.withUnsafeMutableBufferPointer { o in
                kind == 1
                    ? cic_png_decode(base, raw.count, maxPixels, o.baseAddress, channels, o.count, &info, &err, err.count)
                    : cic_jpeg_decode(base, raw.count, maxPixels, o.baseAddress, channels, o.count, &info, &err, err.count)
            }
            guard rc == CIC_OK else {
                throw GaussianADError.badImage(path: name, reason: message(err, fallback: "corrupt or truncated data"))
            }
            return Image(width: Int(info.width), height: Int(info.height), channels: channels, pixels: out)
        }
    }

    private static func message(_ err: [CChar], fallback: String) -> String {
        let s = err.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return s.isEmpty ? fallback : s
    }
}
