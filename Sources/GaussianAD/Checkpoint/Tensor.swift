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

/// A tensor with contiguous row-major little-endian bytes (views already materialised).
public struct Tensor: Sendable {
    /// Element type.
    public let dtype: TensorDType
    /// Shape; empty for a scalar.
    public let shape: [Int]
    /// Contiguous little-endian element bytes, `count * dtype.size` long.
    public let bytes: [UInt8]

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    init(dtype: TensorDType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 tensor of `values` (row-major) shaped `shape`.
    public init(float32 values: [Float], shape: [Int]) {
        dtype = .float32
        self.shape = shape
        var b = [UInt8]()
        b.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { b += $0 } }
        bytes = b
    }

    /// The values converted to Float (float16/64 and integers converted; exact for float32).
    public func floats() -> [Float] {
        guard dtype == .float32 else { return doubles().map { Float($0) } }
        let n = count
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            bytes.withUnsafeBytes { raw in
                for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self).littleEndian) }
            }
            initialized = n
        }
    }

    /// The values converted to Double (int64 beyond 2^53 rounds).
    public func doubles() -> [Double] {
        let n = count
        return [Double](unsafeUninitializedCapacity: n) { out, initialized in
            bytes.withUnsafeBytes { raw in
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
            }
            initialized = n
        }
    }

    /// The values as Int64 (integers exact; floats truncated).
    public func int64s() -> [Int64] {
        guard dtype == .int64 else { return doubles().map { Int64($0) } }
        return bytes.withUnsafeBytes { raw in
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
