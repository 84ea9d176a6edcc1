// An anomaly map shown on its image: the map in a perceptual colour map (inferno) blended over
// the image in grey, the defect regions outlined.
import CKernels
import Foundation

/// Renders overlays of anomaly maps.
public enum Overlay {
    /// The overlay of `map` on `image` (the same size) as 8-bit RGB: the image in grey, the map
    /// blended over it in the inferno colour map from `low` (transparent) to `high` (opaque at
    /// 70 %), and the outline of every pixel above `threshold` that touches one below it, white
    /// (`ck_u8_overlay_inferno`).
    public static func rgb8(image: Image, map: AnomalyMap, low: Float, high: Float, threshold: Double?) -> [UInt8] {
        let n = map.width * map.height * 3
        return [UInt8](unsafeUninitializedCapacity: n) { b, count in
            ck_u8_overlay_inferno(map.height, map.width, image.pixels, image.channels, map.values, low, high,
                                  threshold == nil ? 0 : 1, AnomalyMap.floatThreshold(threshold ?? 0), b.baseAddress!)
            count = n
        }
    }

    /// PNG bytes of the overlay (see `rgb8`), stored uncompressed: written at the rate images are
    /// scored (zlib's fastest level would take longer than the network; recompress them, with
    /// optipng say, to keep them).
    public static func png(image: Image, map: AnomalyMap, low: Float, high: Float, threshold: Double?) -> [UInt8] {
        PNGEncoder.encode(width: map.width, height: map.height,
                          rgb8: rgb8(image: image, map: map, low: low, high: high, threshold: threshold), level: 0)
    }
}
