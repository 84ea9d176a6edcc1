// Decoding against fixtures/decode (PIL reference) and preprocessing against the Lite0 inputs.
import Foundation
import XCTest
@testable import GaussianAD

final class ImageTests: KernelLevelTestCase {
    func testDecodeEveryFormat() throws {
        let exp = try Fixtures.json("decode/expected.json") as! [String: [String: Any]]
        XCTAssertEqual(exp.count, 7)
        for (name, e) in exp {
            let img = try Image.decode(contentsOf: Fixtures.url("images/" + name))
            XCTAssertEqual(img.height, e["height"] as! Int, name)
            XCTAssertEqual(img.width, e["width"] as! Int, name)
            let ref = try Fixtures.float32s("decode/" + (e["file"] as! String))
            // Grey files (with alpha or 16-bit too) stay one channel; the rest are RGB.
            XCTAssertEqual(img.channels, name.contains("gray") ? 1 : 3, name)
            XCTAssertEqual(img.pixels.count, img.width * img.height * img.channels, name)
            let rgb = img.rgbPixels
            XCTAssertEqual(ref.count, rgb.count, name)
            let tol: Float = name.hasSuffix(".jpg") ? 1.0 / 255 + 1e-6 : 1e-6
            var worst: Float = 0
            for (a, b) in zip(rgb, ref) { worst = max(worst, abs(a - b)) }
            XCTAssertLessThanOrEqual(worst, tol, name)
        }
    }

    /// METHOD.md 1.1-1.3 for Lite0: within 1e-5 of PyTorch's tensors (stored NCHW).
    func testLite0InputsMatchReference() throws {
        let names = ["chelsea.png", "coffee.png", "rocket.jpg", "elpv_cell0004_normal.png", "elpv_cell0001_defect.png"]
        let ref = try Fixtures.float32s("lite/inputs_lite0_5x3x224x224.f32")
        XCTAssertEqual(ref.count, 5 * 3 * 224 * 224)
        for (n, name) in names.enumerated() {
            let img = try Image.decode(contentsOf: Fixtures.url("images/" + name))
            let hwc = Preprocess.tensor(img, size: 224, normalization: .lite)
            var worst: Float = 0
            for c in 0..<3 {
                for p in 0..<(224 * 224) {
                    worst = max(worst, abs(hwc[p * 3 + c] - ref[((n * 3 + c) * 224 * 224) + p]))
                }
            }
            XCTAssertLessThanOrEqual(worst, 1e-5, name)
        }
    }

    func testCorruptImagesAreErrorsNamingTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gad-bad-\(UUID()).png")
        try Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0]).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        XCTAssertThrowsError(try Image.decode(contentsOf: path)) { err in
            XCTAssertTrue("\(err)".contains(path.path), "\(err)")
        }
        XCTAssertThrowsError(try Image.decode(data: Data("hello".utf8), name: "x.txt"))
    }

    /// Thousands of truncated and byte-flipped images: errors or images, never a crash or hang.
    func testMutatedImagesNeverCrash() throws {
        for (i, f) in ["small_rgb.png", "small_palette.png", "small_gray16.png", "small_rgb_q90.jpg", "small_gray_alpha.png"].enumerated() {
            let bytes = [UInt8](try Data(contentsOf: Fixtures.url("images/" + f)))
            let r = mutate(bytes, copies: 600, seed: UInt64(100 + i)) { b in
                (try? Image.decode(data: Data(b), name: f)) != nil
            }
            XCTAssertGreaterThan(r.rejected, 100, f)
        }
    }
}
