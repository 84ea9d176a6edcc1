// Localisation metrics over the pixels of a test set: pixel AUROC, and AUPRO as MVTec AD's own
// evaluation computes it (the per-region overlap integrated up to a false-positive rate of 0.3).
import CKernels
import Foundation

/// Pixel AUROC and AUPRO of anomaly maps against ground-truth masks, exact, in 8 bytes a pixel.
///
///     var px = PixelMetrics()
///     try px.add(map: map.values, mask: maskBits, width: w, height: h)   // every test image
///     let (auroc, aupro) = try px.compute()
public struct PixelMetrics: Sendable {
    /// Each pixel: its value's order-preserving bits (high 32) and 0 for a normal pixel or the
    /// number (from 1) of its ground-truth region (low 32).
    private var keys: [UInt64] = []
    /// Pixels of each region, by number - 1.
    private var regionSizes: [Int] = []

    /// The false-positive rate AUPRO integrates up to.
    public static let auproLimit = 0.3

    /// No pixels yet.
    public init() {}

    /// Pixels added.
    public var pixels: Int { keys.count }
    /// Ground-truth regions seen.
    public var regions: Int { regionSizes.count }
    /// Bytes held a pixel.
    public static let bytesPerPixel = 8

    /// Adds one image's map (`height x width` values) and mask (nonzero: defect). Its defect
    /// regions are the 8-connected components of the mask (MVTec AD's evaluation).
    /// - Throws: for sizes that differ or a value that is not finite.
    public mutating func add(map: [Float], mask: [UInt8], width: Int, height: Int) throws {
        let n = width * height
        guard map.count == n, mask.count == n else {
            throw GaussianADError.invalidArgument("a map of \(map.count) values and a mask of \(mask.count) for \(width) x \(height) pixels")
        }
        if let bad = map.first(where: { !$0.isFinite }) { throw GaussianADError.invalidArgument("an anomaly map value is not finite (\(bad))") }
        guard n < Int(Int32.max) else { throw GaussianADError.invalidArgument("a mask of \(width) x \(height) pixels: at most 2^31 - 1") }
        var labels = [Int32](repeating: 0, count: n)
        let scratch = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, ck_regions8_scratch(height, width)))
        defer { scratch.deallocate() }
        let k = ck_u8_label8(height, width, mask, &labels, scratch)
        let first = regionSizes.count
        regionSizes += [Int](repeating: 0, count: k)
        keys.reserveCapacity(keys.count + n)
        for i in 0..<n {
            let l = Int(labels[i])
            if l > 0 { regionSizes[first + l - 1] += 1 }
            keys.append(UInt64(Self.sortable(map[i])) << 32 | UInt64(l > 0 ? first + l : 0))
        }
    }

    /// The float's bits made to order as the floats do (negatives below positives).
    static func sortable(_ v: Float) -> UInt32 {
        let b = v.bitPattern
        return b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
    }

    /// Pixel AUROC (ties count half, as scikit-learn's roc_auc_score) and AUPRO up to FPR 0.3,
    /// divided by 0.3.
    /// - Throws: without both defect and normal pixels.
    public func compute() throws -> (auroc: Double, aupro: Double) {
        let positives = regionSizes.reduce(0, +), negatives = keys.count - positives
        guard positives > 0, negatives > 0 else {
            throw GaussianADError.invalidArgument("pixel metrics need defect and normal pixels (got \(positives) defect, \(negatives) normal)")
        }
        let sorted = keys.sorted(by: >)
        let regions = Double(regionSizes.count)
        // Walk groups of equal values from the highest: the ROC's Mann-Whitney count, and the
        // PRO curve's (fpr, pro) at the end of each group (MVTec's compute_pro).
        var twiceU = 0.0, fp = 0, tp = 0
        var pro = 0.0
        var fprs: [Double] = [0], pros: [Double] = [0]
        var i = 0
        while i < sorted.count {
            let v = sorted[i] >> 32
            var j = i, fpGroup = 0, tpGroup = 0
            while j < sorted.count && sorted[j] >> 32 == v {
                let r = Int(sorted[j] & 0xffff_ffff)
                if r == 0 { fpGroup += 1 } else {
                    tpGroup += 1
                    pro += 1 / Double(regionSizes[r - 1])
                }
                j += 1
            }
            twiceU += Double(tpGroup) * Double(2 * (negatives - fp - fpGroup) + fpGroup)
            fp += fpGroup
            tp += tpGroup
            fprs.append(min(1, Double(fp) / Double(negatives)))
            pros.append(min(1, pro / regions))
            i = j
        }
        fprs.append(1)
        pros.append(1)
        let auroc = twiceU / (2 * Double(positives) * Double(negatives))
        return (auroc, Self.area(fprs, pros, upTo: Self.auproLimit) / Self.auproLimit)
    }

    /// The trapezoid area under (x, y) for x <= xMax, the curve interpolated linearly at xMax
    /// (MVTec AD's trapezoid with x_max); x is non-decreasing.
    static func area(_ x: [Double], _ y: [Double], upTo xMax: Double) -> Double {
        var a = 0.0
        for k in 1..<x.count {
            if x[k] <= xMax {
                a += 0.5 * (y[k] + y[k - 1]) * (x[k] - x[k - 1])
            } else {
                if x[k - 1] < xMax {
                    let yi = y[k - 1] + (y[k] - y[k - 1]) * (xMax - x[k - 1]) / (x[k] - x[k - 1])
                    a += 0.5 * (yi + y[k - 1]) * (xMax - x[k - 1])
                }
                break
            }
        }
        return a
    }
}
