// One image's anomaly map at its own resolution, its peak and its defect regions.
import CKernels
import Foundation

/// Where an image looks anomalous: a value per pixel (higher: more anomalous), row-major.
public struct AnomalyMap: Sendable, Equatable, Codable {
    /// Columns and rows.
    public let width: Int, height: Int
    /// `height x width` values, row-major.
    public let values: [Float]
    /// Where the largest value is (the first in row-major order among equals).
    private let peakIndex: Int

    /// A map of `width` x `height` values.
    public init(width: Int, height: Int, values: [Float]) {
        self.width = width
        self.height = height
        self.values = values
        peakIndex = values.isEmpty ? 0 : ck_f32_argmax(values.count, values)
    }

    private enum CodingKeys: String, CodingKey { case width, height, values }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let (w, h, v) = (try c.decode(Int.self, forKey: .width), try c.decode(Int.self, forKey: .height), try c.decode([Float].self, forKey: .values))
        guard w >= 0, h >= 0, v.count == w * h else {
            throw DecodingError.dataCorruptedError(forKey: .values, in: c, debugDescription: "\(v.count) values for \(w) x \(h)")
        }
        self.init(width: w, height: h, values: v)
    }

    /// The largest value and its pixel [x, y] (the first in row-major order among equals).
    public var peak: (value: Float, x: Int, y: Int) {
        guard !values.isEmpty, width > 0 else { return (-.infinity, 0, 0) }
        return (values[peakIndex], peakIndex % width, peakIndex / width)
    }

    /// The 8-connected areas of pixels above `threshold`, largest peak first (ties: in the
    /// order of their first pixel); `workspace` lends its scratch (one per thread).
    public func regions(above threshold: Double, workspace: MapWorkspace = MapWorkspace()) -> [DefectRegion] {
        let n = width * height
        // Nothing above the threshold, as in most normal images: no labelling. Maps come from
        // images within the input limits, far below 2^31 pixels.
        guard n > 0, n < Int(Int32.max), Double(peak.value) > threshold else { return [] }
        let scratch = workspace.regionScratch(ck_regions8_scratch(height, width))
        var cap = 64
        while true {
            var found = [ck_region](repeating: ck_region(), count: cap)
            let k = ck_f32_regions8(height, width, values, Self.floatThreshold(threshold), scratch, cap, &found)
            if k > cap { cap = k; continue }
            let list = found.prefix(k).map { r in
                DefectRegion(x: r.x0, y: r.y0, width: r.x1 - r.x0 + 1, height: r.y1 - r.y0 + 1, area: r.area,
                             peak: r.peak, peakX: r.peak_at % width, peakY: r.peak_at / width)
            }
            return list.indices.sorted { (list[$0].peak, $1) > (list[$1].peak, $0) }.map { list[$0] }
        }
    }

    /// The largest float not above `t`: a float value v is above t exactly when v > it.
    static func floatThreshold(_ t: Double) -> Float {
        var f = Float(t)
        if Double(f) > t { f = f.nextDown }
        return f
    }
}

/// A connected area of a map above the pixel threshold, in image pixels.
public struct DefectRegion: Sendable, Equatable, Codable {
    /// Bounding box: left column, top row, width and height.
    public let x: Int, y: Int, width: Int, height: Int
    /// Pixels in the area.
    public let area: Int
    /// Its largest map value and where it is.
    public let peak: Float, peakX: Int, peakY: Int
}
