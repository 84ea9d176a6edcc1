// Resize and normalisation of decoded images into network inputs (docs/METHOD.md 1.2-1.3).
import CKernels
import Dispatch
import Foundation

/// Per-channel normalisation constants of a backbone family.
public struct Normalization: Sendable, Equatable, Codable {
    /// Subtracted per channel.
    public var mean: [Float]
    /// Divided by, per channel.
    public var std: [Float]

    /// EfficientNet-Lite (TensorFlow Lite convention): mean 127/255, std 128/255.
    public static let lite = Normalization(mean: [127.0 / 255, 127.0 / 255, 127.0 / 255],
                                           std: [128.0 / 255, 128.0 / 255, 128.0 / 255])
    /// ImageNet statistics (EfficientNet-B*, ResNet).
    public static let imagenet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
}

/// Turns decoded images into the float NHWC input of a backbone.
public enum Preprocess {
    /// Resizes `image` to `size` x `size` with the antialiased bilinear filter and normalises it,
    /// writing size * size * 3 floats (HWC) into `out` (a grey image as three equal channels
    /// before normalisation). `scratch` is resized as needed.
    public static func resizeNormalize(_ image: Image, size: Int, normalization: Normalization,
                                       into out: UnsafeMutablePointer<Float>, scratch: inout [Float]) {
        let need = image.height * size * image.channels
        // The width pass writes every scratch value before the height pass reads it: no zeroing.
        if scratch.count < need { scratch = [Float](unsafeUninitializedCapacity: need) { _, n in n = need } }
        image.pixels.withUnsafeBufferPointer { px in
            normalization.mean.withUnsafeBufferPointer { m in
                normalization.std.withUnsafeBufferPointer { s in
                    scratch.withUnsafeMutableBufferPointer { sc in
                        if image.channels == 1 {
                            ck_f32_resize_aa_grey_to_rgb(image.height, image.width, px.baseAddress, size, size,
                                                         m.baseAddress, s.baseAddress, sc.baseAddress, out)
                        } else {
                            ck_f32_resize_aa_normalize_hwc(image.height, image.width, 3, px.baseAddress,
                                                           size, size, m.baseAddress, s.baseAddress,
                                                           sc.baseAddress, out)
                        }
                    }
                }
            }
        }
    }

    /// Fills a batch of `count` network inputs in parallel: `make(i)` returns image i (or
    /// throws), which is resized and normalised into slice i of `batch` (count * size * size * 3
    /// floats). Returns each image's error, nil where it succeeded.
    static func fillBatch(_ batch: UnsafeMutablePointer<Float>, count: Int, size: Int, normalization: Normalization,
                          _ make: @Sendable (Int) throws -> Image) -> [Error?] {
        let slices = BatchSlices(base: batch, floatsPerImage: size * size * 3)
        let errors = ErrorSlots(count: count)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            do {
                var scratch: [Float] = []
                resizeNormalize(try make(i), size: size, normalization: normalization, into: slices[i], scratch: &scratch)
            } catch {
                errors[i] = error
            }
        }
        return errors.all
    }

    /// Convenience: returns the size x size x 3 HWC tensor of one image.
    public static func tensor(_ image: Image, size: Int, normalization: Normalization) -> [Float] {
        var out = [Float](repeating: 0, count: size * size * 3)
        var scratch: [Float] = []
        out.withUnsafeMutableBufferPointer { o in
            resizeNormalize(image, size: size, normalization: normalization, into: o.baseAddress!, scratch: &scratch)
        }
        return out
    }
}

/// A batch buffer shared by parallel workers that each write only their own image's slice: the
/// disjoint slices are what make handing the pointer to several threads safe.
struct BatchSlices: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let floatsPerImage: Int

    /// The first float of image `i`.
    subscript(i: Int) -> UnsafeMutablePointer<Float> { base + i * floatsPerImage }
}

/// One slot per image (its error, its size...), written by parallel workers under a lock.
final class Slots<Value>: @unchecked Sendable {
    private var slots: [Value]
    private let lock = NSLock()

    init(count: Int, _ initial: Value) { slots = [Value](repeating: initial, count: count) }

    subscript(i: Int) -> Value {
        get { lock.lock(); defer { lock.unlock() }; return slots[i] }
        set { lock.lock(); slots[i] = newValue; lock.unlock() }
    }

    /// Every slot, in order.
    var all: [Value] { lock.lock(); defer { lock.unlock() }; return slots }
}

/// One error slot per image (nil where it was read).
typealias ErrorSlots = Slots<Error?>

extension Slots where Value == Error? {
    convenience init(count: Int) { self.init(count: count, nil) }
}
