// Reader of the safetensors format: a JSON header, then raw little-endian tensor bytes.
import Foundation

enum Safetensors {
    static func looksLike(_ b: [UInt8]) -> Bool {
        guard b.count > 8, let n = ByteReader.uintAt(b, 0, 8), n > 1, n <= UInt64(b.count - 8) else { return false }
        return b[8] == UInt8(ascii: "{")
    }

    static func parse(_ bytes: [UInt8], file: String, limits: InputLimits = .default) throws -> [(String, Tensor)] {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: "safetensors: " + why) }
        guard bytes.count >= 8, let n64 = ByteReader.uintAt(bytes, 0, 8), n64 <= UInt64(bytes.count - 8) else {
            throw fail("header length exceeds the file (truncated?)")
        }
        let n = Int(n64)
        let header = Data(bytes[8..<(8 + n)])
        guard let json = try? JSONSerialization.jsonObject(with: header), let dict = json as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + n, dataSize = bytes.count - dataStart
        var out: [(String, Tensor, Int)] = []
        for (name, value) in dict where name != "__metadata__" {
            guard let e = value as? [String: Any], let dt = e["dtype"] as? String,
                  let shape = e["shape"] as? [Int], let offs = e["data_offsets"] as? [Int], offs.count == 2 else {
                throw fail("malformed entry '\(name)'")
            }
            let dtype: TensorDType
            switch dt {
            case "F32": dtype = .float32
            case "F16": dtype = .float16
            case "F64": dtype = .float64
            case "I64": dtype = .int64
            case "I32": dtype = .int32
            case "U8": dtype = .uint8
            case "BOOL": dtype = .bool
            default: throw fail("tensor '\(name)' has unsupported dtype \(dt)")
            }
            guard shape.count <= 16 else { throw fail("tensor '\(name)' has \(shape.count) dimensions (at most 16)") }
            if let bad = shape.first(where: { $0 < 0 }) { throw fail("tensor '\(name)' has a negative size \(bad) in its shape") }
            guard let count = Checked.product(shape), let size = Checked.mul(count, dtype.size) else {
                throw fail("tensor '\(name)' of shape \(shape) has more elements than can be addressed")
            }
            guard size <= limits.maxTensorBytes else {
                throw fail("tensor '\(name)' of shape \(shape) is \(size) bytes, over the limit of \(limits.maxTensorBytes) (GAUSSIAN_AD_MAX_TENSOR_BYTES)")
            }
            let (b, e2) = (offs[0], offs[1])
            guard b >= 0, e2 >= 0 else { throw fail("tensor '\(name)' has negative data_offsets [\(b), \(e2)]") }
            guard b <= e2, e2 <= dataSize else {
                throw fail("tensor '\(name)' data_offsets [\(b), \(e2)] lie outside the \(dataSize) data bytes (truncated?)")
            }
            guard e2 - b == size else { throw fail("tensor '\(name)' holds \(e2 - b) bytes, its shape \(shape) needs \(size)") }
            out.append((name, Tensor(dtype: dtype, shape: shape, bytes: bytes[(dataStart + b)..<(dataStart + e2)]), b))
        }
        return out.sorted { $0.2 < $1.2 }.map { ($0.0, $0.1) }
    }
}
