// An anomaly map shown on its image: the map in a perceptual colour map (inferno) blended over
// the image in grey, the defect regions outlined.
import Foundation

/// Renders overlays of anomaly maps.
public enum Overlay {
    /// The overlay of `map` on `image` (the same size) as 8-bit RGB: the image in grey, the map
    /// blended over it in the inferno colour map from `low` (transparent) to `high` (opaque at
    /// 70 %), and the outline of every pixel above `threshold` that touches one below it, white.
    public static func rgb8(image: Image, map: AnomalyMap, low: Float, high: Float, threshold: Double?) -> [UInt8] {
        let w = map.width, h = map.height
        var out = [UInt8](repeating: 0, count: w * h * 3)
        let span = max(high - low, 1e-12)
        let above = threshold.map { t in map.values.map { Double($0) > t } }
        for y in 0..<h {
            for x in 0..<w {
                let i = y * w + x
                let grey: Float
                if image.channels == 3 {
                    let p = image.pixels[(i * 3)..<(i * 3 + 3)]
                    grey = 0.299 * p[p.startIndex] + 0.587 * p[p.startIndex + 1] + 0.114 * p[p.startIndex + 2]
                } else {
                    grey = image.pixels[i]
                }
                let t = max(0, min(1, (map.values[i] - low) / span))
                let (r, g, b) = inferno(t)
                let a = 0.7 * t
                var px = (grey * (1 - a) + r * a, grey * (1 - a) + g * a, grey * (1 - a) + b * a)
                if let above, above[i], isEdge(above, x: x, y: y, w: w, h: h) { px = (1, 1, 1) }
                out[i * 3] = byte(px.0)
                out[i * 3 + 1] = byte(px.1)
                out[i * 3 + 2] = byte(px.2)
            }
        }
        return out
    }

    /// PNG bytes of the overlay (see `rgb8`).
    public static func png(image: Image, map: AnomalyMap, low: Float, high: Float, threshold: Double?) -> [UInt8] {
        PNGEncoder.encode(width: map.width, height: map.height,
                          rgb8: rgb8(image: image, map: map, low: low, high: high, threshold: threshold), level: 3)
    }

    private static func byte(_ v: Float) -> UInt8 { UInt8(max(0, min(255, (v * 255).rounded()))) }

    /// Whether pixel (x, y), above the threshold, has a 4-neighbour below it (or is on the border).
    private static func isEdge(_ above: [Bool], x: Int, y: Int, w: Int, h: Int) -> Bool {
        if x == 0 || y == 0 || x == w - 1 || y == h - 1 { return true }
        let i = y * w + x
        return !above[i - 1] || !above[i + 1] || !above[i - w] || !above[i + w]
    }

    /// Matplotlib's inferno at 11 stops, interpolated linearly.
    static let stops: [(Float, Float, Float)] = [
        (0.001, 0.000, 0.014), (0.087, 0.044, 0.225), (0.258, 0.039, 0.406), (0.416, 0.090, 0.433),
        (0.578, 0.148, 0.404), (0.735, 0.216, 0.330), (0.865, 0.317, 0.226), (0.954, 0.469, 0.099),
        (0.988, 0.645, 0.040), (0.964, 0.843, 0.273), (0.988, 0.998, 0.645),
    ]

    /// The colour of t in [0, 1].
    public static func inferno(_ t: Float) -> (Float, Float, Float) {
        let x = max(0, min(1, t)) * Float(stops.count - 1)
        let i = min(Int(x), stops.count - 2), f = x - Float(i)
        let a = stops[i], b = stops[i + 1]
        return (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f, a.2 + (b.2 - a.2) * f)
    }
}
