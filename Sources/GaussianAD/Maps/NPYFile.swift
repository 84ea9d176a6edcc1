// NumPy's .npy format (version 1.0) for anomaly maps: what Python users load with numpy.load.
import Foundation

/// Writes float32 arrays as `.npy` files (format 1.0, C order, little-endian `<f4`).
///
///     try NPYFile.write(map.values, shape: [map.height, map.width], to: url)
public enum NPYFile {
    /// The bytes of a `.npy` file of `values` with `shape` (row-major).
    public static func encode(_ values: [Float], shape: [Int]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let n = header.utf8.count
        out += [UInt8(n & 0xff), UInt8(n >> 8)]
        out += Array(header.utf8)
        let start = out.count
        out += [UInt8](repeating: 0, count: values.count * 4)
        out.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: start + i * 4, as: UInt32.self) }
        }
        return out
    }

    /// Writes `values` with `shape` to `url` atomically.
    public static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        try AtomicFile.write(Data(encode(values, shape: shape)), to: url)
    }
}
