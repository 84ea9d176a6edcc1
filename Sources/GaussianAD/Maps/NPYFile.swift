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
        let head: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0] + [UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)]
            + Array(header.utf8)
        let total = head.count + values.count * 4
        return [UInt8](unsafeUninitializedCapacity: total) { b, count in
            let raw = UnsafeMutableRawBufferPointer(b)
            raw.copyBytes(from: head)
            values.withUnsafeBytes { v in
                // Little-endian float32 as this machine stores them (a big-endian one would swap).
                if 1.littleEndian == 1 {
                    UnsafeMutableRawBufferPointer(rebasing: raw[head.count...]).copyMemory(from: v)
                } else {
                    for (i, f) in values.enumerated() { raw.storeBytes(of: f.bitPattern.littleEndian, toByteOffset: head.count + i * 4, as: UInt32.self) }
                }
            }
            count = total
        }
    }

    /// Writes `values` with `shape` to `url` atomically.
    public static func write(_ values: [Float], shape: [Int], to url: URL) throws {
        try AtomicFile.write(encode(values, shape: shape), to: url)
    }
}
