// The checkpoint reader against torch_formats/expected.json (made by PyTorch), plus mutations.
import Foundation
import XCTest
@testable import GaussianAD

final class CheckpointTests: KernelLevelTestCase {
    struct Expected { let dtype: String; let shape: [Int]; let values: [Double] }

    func expected() throws -> [String: Expected] {
        let j = try Fixtures.json("torch_formats/expected.json") as! [String: Any]
        var out: [String: Expected] = [:]
        for (k, v) in j["tensors"] as! [String: [String: Any]] {
            out[k] = Expected(dtype: v["dtype"] as! String, shape: v["shape"] as! [Int],
                              values: (v["values"] as! [NSNumber]).map(\.doubleValue))
        }
        return out
    }

    func check(_ file: String) throws {
        let ckpt = try Checkpoint.load(contentsOf: Fixtures.url("torch_formats/" + file))
        let exp = try expected()
        XCTAssertEqual(Set(ckpt.names), Set(exp.keys), file)
        for (name, e) in exp {
            let t = try XCTUnwrap(ckpt[name], "\(file): \(name)")
            XCTAssertEqual(t.dtype.rawValue, e.dtype, "\(file): \(name)")
            XCTAssertEqual(t.shape, e.shape, "\(file): \(name)")
            if t.dtype == .int64 {
                // JSON carries 12 significant digits: 2^40 + 0 is written 1099511627780.
                for (g, w) in zip(t.int64s(), e.values) {
                    XCTAssertEqual(Double(g), w, accuracy: 5e-12 * max(1, abs(w)), "\(file): \(name)")
                }
            } else {
                let got = t.doubles()
                XCTAssertEqual(got.count, e.values.count)
                for (g, w) in zip(got, e.values) {
                    // JSON carries 12 significant digits of the exact stored value.
                    XCTAssertEqual(g, w, accuracy: 1e-11 * max(1, abs(w)), "\(file): \(name)")
                }
            }
        }
    }

    /// A tensor kept in its file's dimension order reads the same values in every order as the
    /// index arithmetic says, through the tiled copy (dimensions of 16 and more) and the plain one.
    func testTensorInStorageOrderReadsInAnyOrder() {
        for (o, i, k) in [(40, 24, 1), (5, 3, 3), (33, 17, 3)] {
            // Stored [ky][kx][i][o] (HWIO) as Lite checkpoints are: element (o, i, y, x) holds
            // its own row-major index o*i*k*k... in the OIHW order.
            let shape = [o, i, k, k]
            var storage = [Float](repeating: 0, count: o * i * k * k)
            for a in 0..<o { for b in 0..<i { for y in 0..<k { for x in 0..<k {
                storage[((y * k + x) * i + b) * o + a] = Float(((a * i + b) * k + y) * k + x)
            } } } }
            let bytes = storage.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
            let t = Tensor(dtype: .float32, shape: shape, storage: bytes, strides: [1, o, k * i * o, i * o].enumerated().map { shape[$0.offset] == 1 ? 0 : $0.element })
            XCTAssertEqual(t.floats(), (0..<(o * i * k * k)).map(Float.init), "\(shape) row-major")
            XCTAssertEqual(t.floats(order: [2, 3, 1, 0]), storage, "\(shape) in storage order")
            let ioyx = t.floats(order: [1, 0, 2, 3])
            for a in 0..<o { for b in 0..<i { for y in 0..<k { for x in 0..<k {
                XCTAssertEqual(ioyx[((b * o + a) * k + y) * k + x], Float(((a * i + b) * k + y) * k + x))
            } } } }
            // The same elements as a slice of a larger file's bytes (as a checkpoint's tensors
            // are), the bytes around them not the tensor's.
            let file = [UInt8](repeating: 0xff, count: 12) + bytes + [UInt8](repeating: 0x7f, count: 8)
            let sliced = Tensor(dtype: .float32, shape: shape, storage: file[12..<(12 + bytes.count)], strides: t.strides)
            XCTAssertEqual(sliced.floats(), t.floats(), "\(shape) sliced, row-major")
            XCTAssertEqual(sliced.floats(order: [2, 3, 1, 0]), storage, "\(shape) sliced, in storage order")
            XCTAssertEqual(sliced.floats(order: [1, 0, 2, 3]), ioyx, "\(shape) sliced, transposed")
            XCTAssertEqual(sliced.bytes(order: [2, 3, 1, 0]), bytes, "\(shape) sliced, bytes")
        }
    }

    func testLegacyFormat() throws { try check("legacy.pth") }
    func testZipFormat() throws { try check("zip.pth") }
    func testNestedStateDict() throws { try check("nested.pth") }
    func testSafetensors() throws { try check("tensors.safetensors") }

    func testRejectsForbiddenGlobal() throws {
        XCTAssertThrowsError(try Checkpoint.load(contentsOf: Fixtures.url("torch_formats/evil_global.pth"))) { err in
            let msg = "\(err)"
            XCTAssertTrue(msg.contains("getcwd"), msg)
            XCTAssertTrue(msg.contains("evil_global.pth"), msg)
        }
    }

    func testMissingFileIsReadableError() {
        XCTAssertThrowsError(try Checkpoint.load(contentsOf: URL(fileURLWithPath: "/nonexistent/w.pth"))) { err in
            XCTAssertTrue("\(err)".contains("/nonexistent/w.pth"))
        }
    }

    /// Thousands of truncated and byte-flipped copies: errors, never a crash or hang.
    func testMutatedCheckpointsNeverCrash() throws {
        for (i, f) in ["legacy.pth", "zip.pth", "nested.pth", "tensors.safetensors", "evil_global.pth"].enumerated() {
            let bytes = [UInt8](try Data(contentsOf: Fixtures.url("torch_formats/" + f)))
            let r = mutate(bytes, copies: 1000, seed: UInt64(i + 1)) { b in
                (try? Checkpoint.parse(bytes: b, name: f)) != nil
            }
            XCTAssertGreaterThan(r.rejected, 300, f)
        }
    }
}
