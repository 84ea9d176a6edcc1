// One image's anomaly map at its own resolution, its peak and its defect regions.
import CKernels
import Foundation

/// Where an image looks anomalous: a value per pixel (higher: more anomalous), row-major.
public struct AnomalyMap: Sendable, Equatable, Codable {
    /// Columns and rows.
    public let width: Int, height: Int
    /// `height x width` values, row-major.
    public let values: [Float]

    /// A map of `width` x `height` values.
    public init(width: Int, height: Int, values: [Float]) {
        self.width = width
        self.height = height
        self.values = values
    }

    /// The largest value and its pixel [x, y] (the first in row-major order among equals).
    public var peak: (value: Float, x: Int, y: Int) {
        var best = -Float.infinity, at = 0
        for (i, v) in values.enumerated() where v > best { best = v; at = i }
        return (best, width > 0 ? at % width : 0, width > 0 ? at / width : 0)
    }

    /// The 8-connected areas of pixels above `threshold`, largest peak first.
    public func regions(above threshold: Double) -> [DefectRegion] {
        let n = width * height
        guard n > 0 else { return [] }
        let mask = values.map { Double($0) > threshold ? UInt8(1) : 0 }
        var labels = [Int32](repeating: 0, count: n), queue = [Int](repeating: 0, count: n)
        let k = ck_u8_label8(height, width, mask, &labels, &queue)
        guard k > 0 else { return [] }
        var x0 = [Int](repeating: .max, count: k), y0 = x0, x1 = [Int](repeating: -1, count: k), y1 = x1
        var area = [Int](repeating: 0, count: k), peak = [Float](repeating: -.infinity, count: k), px = area, py = area
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x, l = Int(labels[i]) - 1
                guard l >= 0 else { continue }
                x0[l] = min(x0[l], x); x1[l] = max(x1[l], x); y0[l] = min(y0[l], y); y1[l] = max(y1[l], y)
                area[l] += 1
                if values[i] > peak[l] { peak[l] = values[i]; px[l] = x; py[l] = y }
            }
        }
        return (0..<k).map {
            DefectRegion(x: x0[$0], y: y0[$0], width: x1[$0] - x0[$0] + 1, height: y1[$0] - y0[$0] + 1, area: area[$0],
                         peak: peak[$0], peakX: px[$0], peakY: py[$0])
        }.sorted { $0.peak > $1.peak }
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
