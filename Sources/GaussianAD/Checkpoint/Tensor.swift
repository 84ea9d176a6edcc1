// A named tensor read from a checkpoint: dtype, shape and contiguous row-major values.
import Foundation

/// Element types a checkpoint may hold.
public enum TensorDType: String, Sendable, Codable {
    case float32, float16, float64, int64, int32, uint8, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16: return 2
        case .float64, .int64: return 8
        case .uint8, .bool: return 1
        }
    }

    /// The PyTorch storage class name for this dtype (legacy pickles name storages by type).
    static func fromStorageClass(_ name: String) -> TensorDType? {
        switch name {
        case "FloatStorage": return .float32
        case "HalfStorage": return .float16
        case "DoubleStorage": return .float64
        case "LongStorage": return .int64
        case "IntStorage": return .int32
        case "ByteStorage": return .uint8
        case "BoolStorage": return .bool
        default: return nil
        }
    }
}

/// A tensor: its shape and its little-endian elements, dense, in row-major order or in the
/// dimension order its file stored (read either way through `bytes`, `floats()` or
/// `floats(order:)`).
public struct Tensor: Sendable {
    /// Element type.
    public let dtype: TensorDType
    /// Shape; empty for a scalar.
    public let shape: [Int]
    /// The elements, `count * dtype.size` bytes, element i0, i1, ... at `sum(i_d * strides[d])`:
    /// a checkpoint's tensors are slices of the file's bytes, never copies of them.
    let storage: ArraySlice<UInt8>
    /// Element strides of `storage`: a permutation of a dense layout (0 for dimensions of size 1).
    let strides: [Int]

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Contiguous row-major little-endian element bytes, `count * dtype.size` long.
    public var bytes: [UInt8] { bytes(order: Array(shape.indices)) }

    init(dtype: TensorDType, shape: [Int], bytes: ArraySlice<UInt8>) {
        self.init(dtype: dtype, shape: shape, storage: bytes, strides: Self.rowMajorStrides(shape))
    }

    init(dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
        self.init(dtype: dtype, shape: shape, bytes: bytes[...])
    }

    init(dtype: TensorDType, shape: [Int], storage: [UInt8], strides: [Int]) {
        self.init(dtype: dtype, shape: shape, storage: storage[...], strides: strides)
    }

    init(dtype: TensorDType, shape: [Int], storage: ArraySlice<UInt8>, strides: [Int]) {
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
        self.strides = strides
    }

    /// Row-major element strides of `shape`.
    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var d = shape.count - 2
        while d >= 0 { s[d] = s[d + 1] * shape[d + 1]; d -= 1 }
        return s
    }

    /// The element bytes with the dimensions running in `order` (a permutation of the
    /// dimensions, outermost first): the stored bytes themselves when they are in that order,
    /// else one strided copy.
    public func bytes(order: [Int]) -> [UInt8] {
        withBytes(order: order) { Array($0) }
    }

    /// `body` over the element bytes with the dimensions running in `order`: the stored bytes
    /// in place when they are in that order, else a strided copy.
    private func withBytes<R>(order: [Int], _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(order.sorted() == Array(shape.indices), "order \(order) is not a permutation of \(shape.count) dimensions")
        let size = order.map { shape[$0] }, stride = order.map { strides[$0] }
        let want = Self.rowMajorStrides(size)
        if count == 0 || size.indices.allSatisfy({ size[$0] == 1 || stride[$0] == want[$0] }) { return storage.withUnsafeBytes(body) }
        let es = dtype.size
        var out = [UInt8](unsafeUninitializedCapacity: count * es) { _, n in n = count * es }
        storage.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in StridedCopy.run(elementSize: es, src, dst, base: 0, size: size, stride: stride) }
        }
        return out.withUnsafeBytes(body)
    }

    /// The values as Float with the dimensions running in `order` (see `bytes(order:)`):
    /// a [O, I, kh, kw] convolution weight as [kh][kw][I][O] is `floats(order: [2, 3, 1, 0])`.
    public func floats(order: [Int]) -> [Float] {
        let n = count, dtype = self.dtype
        return withBytes(order: order) { raw in
            guard dtype == .float32 else { return Self.doubles(dtype, n, raw).map { Float($0) } }
            return [Float](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
                initialized = n
            }
        }
    }

    /// A float32 tensor of `values` (row-major) shaped `shape`.
    public init(float32 values: [Float], shape: [Int]) {
        dtype = .float32
        self.shape = shape
        var b = [UInt8]()
        b.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { b += $0 } }
        storage = b[...]
        strides = Self.rowMajorStrides(shape)
    }

    /// The values converted to Float (float16/64 and integers converted; exact for float32).
    public func floats() -> [Float] {
        floats(order: Array(shape.indices))
    }

    /// The values converted to Double (int64 beyond 2^53 rounds).
    public func doubles() -> [Double] {
        let n = count, dtype = self.dtype
        return withBytes(order: Array(shape.indices)) { Self.doubles(dtype, n, $0) }
    }

    /// `n` elements of `dtype` at `raw` (little-endian, row-major) converted to Double.
    private static func doubles(_ dtype: TensorDType, _ n: Int, _ raw: UnsafeRawBufferPointer) -> [Double] {
        [Double](unsafeUninitializedCapacity: n) { out, initialized in
            // One loop per dtype: the switch stays out of the per-element path.
            switch dtype {
            case .float32:
                for i in 0..<n { out[i] = Double(Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian)) }
            case .float16:
                for i in 0..<n { out[i] = Double(Float16Bits.toFloat(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self).littleEndian)) }
            case .float64:
                for i in 0..<n { out[i] = Double(bitPattern: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self).littleEndian) }
            case .int64:
                for i in 0..<n { out[i] = Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))) }
            case .int32:
                for i in 0..<n { out[i] = Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))) }
            case .uint8, .bool:
                for i in 0..<n { out[i] = Double(raw[i]) }
            }
            initialized = n
        }
    }

    /// The values as Int64 (integers exact; floats truncated).
    public func int64s() -> [Int64] {
        guard dtype == .int64 else { return doubles().map { Int64($0) } }
        return withBytes(order: Array(shape.indices)) { raw in
            (0..<count).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        }
    }
}

/// IEEE half-precision decoding without relying on the platform's Float16.
enum Float16Bits {
    static func toFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f)
        let frac = UInt32(h & 0x3ff)
        if exp == 0 {
            if frac == 0 { return Float(bitPattern: sign) }
            let v = Float(frac) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (frac << 13)) }
        return Float(bitPattern: sign | (UInt32(exp - 15 + 127) << 23) | (frac << 13))
    }
}
