// SHA-256 through the system's libcrypto (OpenSSL), used to identify weight files and to
// checksum model files.
import CSystemCrypto
import Foundation

/// SHA-256 digests, computed by OpenSSL (hardware SHA extensions where the CPU has them).
///
///     let hex = SHA256.hex(Array(try Data(contentsOf: weightsURL)))
public enum SHA256 {
    /// The digest of `bytes` as 32 bytes.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { digest($0) }
    }

    /// The digest of a memory region as 32 bytes.
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { o in
            EVP_Digest(bytes.baseAddress ?? UnsafeRawPointer(o.baseAddress!), bytes.count, o.baseAddress, &len, EVP_sha256(), nil)
        }
        // EVP_Digest fails only if the library cannot allocate a context: nothing a caller can act on.
        precondition(ok == 1 && len == 32, "libcrypto SHA-256 failed")
        return out
    }

    /// The digest of `bytes` as 64 lowercase hex characters.
    public static func hex(_ bytes: [UInt8]) -> String {
        digest(bytes).map { String(format: "%02x", $0) }.joined()
    }
}
