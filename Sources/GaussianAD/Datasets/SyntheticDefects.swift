// Synthetic defects with exact masks on normal images (scratches, blobs and cut-and-pasted
// patches, after Li et al.'s CutPaste), for validating anomaly maps without labelled defects.
import Foundation

/// Makes defects on normal images and MVTec-layout trees of them (docs/METHOD.md 9.4).
///
///     let (img, mask) = SyntheticDefects.apply(.scratch, to: normal, contrast: 1, seed: 7)
///     try SyntheticDefects.makeTree(normals: urls, at: root, seed: 1)
public enum SyntheticDefects {
    /// The kinds of defect.
    public enum Kind: String, CaseIterable, Sendable {
        /// A straight line 2 to 4 pixels wide, 60 to 150 long, dark or bright.
        case scratch
        /// A filled ellipse of radii 8 to 24 pixels, dark or bright.
        case blob
        /// A rectangle of 24 to 56 pixels a side copied from elsewhere in the image, turned a
        /// quarter, pasted.
        case cutpaste
    }

    /// A SplitMix64 stream.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            return StableSplit.splitmix64(state &- 0x9e37_79b9_7f4a_7c15)
        }
        /// Uniform in [0, 1).
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
        /// Uniform integer in [a, b].
        mutating func int(_ a: Int, _ b: Int) -> Int { a + Int(next() % UInt64(b - a + 1)) }
    }

    /// `image` with a defect of `kind` at `contrast` (1: the defect's own values; 0.35: 35 % of
    /// the way from the image's values to them) and its mask (1 where the defect is), drawn
    /// from `seed`. Defects keep 8 pixels from the border.
    public static func apply(_ kind: Kind, to image: Image, contrast: Float, seed: UInt64) -> (Image, [UInt8]) {
        var rng = Random(state: seed)
        let w = image.width, h = image.height, c = image.channels
        var px = image.pixels
        var mask = [UInt8](repeating: 0, count: w * h)
        func blend(_ i: Int, _ target: Float) {
            for k in 0..<c { px[i * c + k] += contrast * (target - px[i * c + k]) }
            mask[i] = 1
        }
        let margin = 8
        switch kind {
        case .scratch:
            let len = Double(rng.int(60, 150)), width = Double(rng.int(2, 4)), angle = rng.unit() * Double.pi
            let dx = cos(angle) * len / 2, dy = sin(angle) * len / 2
            let cx = Double(rng.int(margin + Int(abs(dx)), max(margin + Int(abs(dx)), w - 1 - margin - Int(abs(dx)))))
            let cy = Double(rng.int(margin + Int(abs(dy)), max(margin + Int(abs(dy)), h - 1 - margin - Int(abs(dy)))))
            let target: Float = rng.unit() < 0.5 ? 0.05 : 0.95
            for y in 0..<h {
                for x in 0..<w {
                    // Distance from (x, y) to the segment (cx - dx, cy - dy) .. (cx + dx, cy + dy).
                    let px0 = Double(x) - (cx - dx), py0 = Double(y) - (cy - dy)
                    let t = max(0, min(1, (px0 * 2 * dx + py0 * 2 * dy) / (4 * (dx * dx + dy * dy))))
                    let ex = px0 - t * 2 * dx, ey = py0 - t * 2 * dy
                    if (ex * ex + ey * ey).squareRoot() <= width / 2 { blend(y * w + x, target) }
                }
            }
        case .blob:
            let a = Double(rng.int(8, 24)), b = Double(rng.int(8, 24)), angle = rng.unit() * Double.pi
            let r = Int(max(a, b))
            let cx = Double(rng.int(margin + r, max(margin + r, w - 1 - margin - r)))
            let cy = Double(rng.int(margin + r, max(margin + r, h - 1 - margin - r)))
            let target: Float = rng.unit() < 0.5 ? 0.05 : 0.95
            let ca = cos(angle), sa = sin(angle)
            for y in 0..<h {
                for x in 0..<w {
                    let ux = Double(x) - cx, uy = Double(y) - cy
                    let p = (ux * ca + uy * sa) / a, q = (-ux * sa + uy * ca) / b
                    if p * p + q * q <= 1 { blend(y * w + x, target) }
                }
            }
        case .cutpaste:
            let s = rng.int(24, 56)
            let sx = rng.int(margin, max(margin, w - margin - s)), sy = rng.int(margin, max(margin, h - margin - s))
            var dx = sx, dy = sy
            // The destination at least a patch away from the source.
            for _ in 0..<32 where abs(dx - sx) < s && abs(dy - sy) < s {
                dx = rng.int(margin, max(margin, w - margin - s))
                dy = rng.int(margin, max(margin, h - margin - s))
            }
            let source = image.pixels
            for y in 0..<s {
                for x in 0..<s {
                    // A quarter turn: destination (x, y) takes source (y, s - 1 - x).
                    let si = (sy + (s - 1 - x)) * w + (sx + y), di = (dy + y) * w + (dx + x)
                    for k in 0..<c { px[di * c + k] += contrast * (source[si * c + k] - px[di * c + k]) }
                    mask[di] = 1
                }
            }
        }
        return (Image(width: w, height: h, channels: c, pixels: px), mask)
    }

    /// An MVTec-layout tree at `root` from normal images `normals`: sorted by the stable split's
    /// key with `seed`, the first `defects` get a defect each (the kinds in turn, every other one
    /// at 35 % contrast) in `test/KIND/` with their masks in `ground_truth/KIND/NAME_mask.png`,
    /// the next `testNormal` are copied to `test/good/`, the rest to `train/good/`.
    /// - Throws: an unreadable image or an unwritable file, naming it.
    public static func makeTree(normals: [URL], at root: URL, defects: Int = 120, testNormal: Int = 120, seed: UInt64 = 1) throws {
        let keyed = normals.map { (StableSplit.key($0.lastPathComponent, seed: seed), $0.lastPathComponent, $0) }
        let sorted = keyed.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : Array($0.1.utf8).lexicographicallyPrecedes(Array($1.1.utf8)) }.map(\.2)
        guard sorted.count > defects + testNormal else {
            throw GaussianADError.invalidArgument("\(sorted.count) normal images; a tree of \(defects) defects and \(testNormal) normal test images needs more for training")
        }
        let fm = FileManager.default
        for d in ["train/good", "test/good"] + Kind.allCases.flatMap({ ["test/\($0.rawValue)", "ground_truth/\($0.rawValue)"] }) {
            try fm.createDirectory(at: root.appendingPathComponent(d), withIntermediateDirectories: true)
        }
        func copy(_ u: URL, to dir: String) throws {
            let dest = root.appendingPathComponent(dir).appendingPathComponent(u.lastPathComponent)
            try AtomicFile.write(Data(try FileBytes.read(u)), to: dest)
        }
        for (i, u) in sorted.enumerated() {
            if i < defects {
                let kind = Kind.allCases[i % Kind.allCases.count]
                let image = try Image.decode(contentsOf: u)
                let (img, mask) = apply(kind, to: image, contrast: (i / Kind.allCases.count) % 2 == 0 ? 1 : 0.35,
                                        seed: StableSplit.key(u.lastPathComponent, seed: seed ^ 0x5eed))
                let name = (u.lastPathComponent as NSString).deletingPathExtension
                try AtomicFile.write(Data(PNGEncoder.encode(width: img.width, height: img.height, rgb: img.rgbPixels)),
                                     to: root.appendingPathComponent("test/\(kind.rawValue)/\(name).png"))
                let m = mask.flatMap { v -> [UInt8] in v != 0 ? [255, 255, 255] : [0, 0, 0] }
                try AtomicFile.write(Data(PNGEncoder.encode(width: img.width, height: img.height, rgb8: m)),
                                     to: root.appendingPathComponent("ground_truth/\(kind.rawValue)/\(name)_mask.png"))
            } else {
                try copy(u, to: i < defects + testNormal ? "test/good" : "train/good")
            }
        }
    }
}
