// The checkpoint reader against torch_formats/expected.json (made by PyTorch), plus mutations.
import Foundation
import XCTest
@testable import GaussianAD

final class CheckpointTests: XCTestCase {
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
