// Reader of the safetensors format: a JSON header, then raw little-endian tensor bytes.
import Foundation

enum Safetensors {
    static func looksLike(_ b: [UInt8]) -> Bool {
        guard let n = ByteReader.uintAt(b, 0, 8), n > 1, n < UInt64(b.count) - 8 + 1 else { return false }
        return b.count > 8 && b[8] == UInt8(ascii: "{")
    }

    static func parse(_ bytes: [UInt8], file: String) throws -> [(String, Tensor)] {
        func fail(_ why: String) -> GaussianADError { .badCheckpoint(path: file, reason: "safetensors: " + why) }
        guard let n64 = ByteReader.uintAt(bytes, 0, 8), n64 <= UInt64(bytes.count - 8) else {
            throw fail("header length exceeds the file (truncated?)")
        }
        let n = Int(n64)
        let header = Data(bytes[8..<(8 + n)])
        guard let json = try? JSONSerialization.jsonObject(with: header), let dict = json as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + n
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
            guard shape.allSatisfy({ $0 >= 0 }), shape.count <= 16 else { throw fail("tensor '\(name)' has a bad shape") }
            var count = 1
            for d in shape {
                let (m, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("tensor '\(name)' is too large") }
                count = m
            }
            let (b, e2) = (offs[0], offs[1])
            guard b >= 0, e2 >= b, dataStart + e2 <= bytes.count else { throw fail("tensor '\(name)' lies outside the file (truncated?)") }
            guard e2 - b == count * dtype.size else { throw fail("tensor '\(name)' byte size does not match its shape") }
            out.append((name, Tensor(dtype: dtype, shape: shape, bytes: Array(bytes[(dataStart + b)..<(dataStart + e2)])), b))
        }
        return out.sorted { $0.2 < $1.2 }.map { ($0.0, $0.1) }
    }
}
