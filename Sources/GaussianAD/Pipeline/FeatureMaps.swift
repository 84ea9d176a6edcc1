// The spatial maps of some levels of a batch of images, as the network computed them: the
// input of the anomaly maps (docs/METHOD.md 9).
import Foundation

/// Height, width and channels of one level's map.
public struct MapShape: Sendable, Codable, Equatable, Hashable {
    /// Rows and columns of positions, and the feature dimension at each.
    public let h: Int, w: Int, c: Int
    /// Positions.
    public var positions: Int { h * w }
    /// Floats of the map.
    public var count: Int { h * w * c }

    /// A map of `h` x `w` positions of `c` features.
    public init(h: Int, w: Int, c: Int) {
        self.h = h
        self.w = w
        self.c = c
    }
}

/// Width and height of an image in pixels.
public struct PixelSize: Sendable, Codable, Equatable, Hashable {
    /// Columns and rows.
    public let width: Int, height: Int

    /// A size of `width` x `height` pixels.
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }
}

/// The maps of `levels` for `count` images: per image, each level's `h x w x c` map (NHWC,
/// float32, as the network computed it), the levels one after another.
///
///     let (feats, maps) = net.run(count: urls.count, maps: [3, 4, 5]) { i, slot in ... }
///     let m = maps.map(0, of: 2)      // level 3 of image 2: 28 x 28 x 40 floats for Lite0
public struct FeatureMaps: Sendable {
    /// The levels whose maps are held, in order.
    public let levels: [Int]
    /// The shape of each held level's map.
    public let shapes: [MapShape]
    /// Images.
    public private(set) var count: Int
    /// `count` images of `floatsPerImage` floats.
    public var values: [Float]
    /// Each image's own size (what its anomaly map is brought to); 0 x 0 where unknown.
    public var sizes: [PixelSize]
    /// The decoded images themselves, where the extractor keeps them (`FeatureExtractor.keepsImages`:
    /// for overlays without decoding them again); empty otherwise.
    public var images: [Image?] = []

    /// Floats of one image's maps.
    public var floatsPerImage: Int { shapes.reduce(0) { $0 + $1.count } }
    /// Start of each held level's map within an image's floats.
    public var offsets: [Int] { startOffsets(shapes.map(\.count)) }

    /// Wraps the maps of `count` images; `values.count` must be `count * floatsPerImage`.
    public init(levels: [Int], shapes: [MapShape], count: Int, values: [Float]) throws {
        guard levels.count == shapes.count, count >= 0, values.count == count * shapes.reduce(0, { $0 + $1.count }) else {
            throw GaussianADError.invalidArgument("feature maps: \(values.count) values do not make \(count) images of levels \(levels)")
        }
        self.levels = levels
        self.shapes = shapes
        self.count = count
        self.values = values
        sizes = [PixelSize](repeating: PixelSize(width: 0, height: 0), count: count)
    }

    /// No images, laid out as `levels` of `shapes`.
    public static func empty(levels: [Int], shapes: [MapShape]) -> FeatureMaps {
        FeatureMaps(unchecked: levels, shapes, 0, [])
    }

    init(unchecked levels: [Int], _ shapes: [MapShape], _ count: Int, _ values: [Float], sizes: [PixelSize]? = nil) {
        self.levels = levels
        self.shapes = shapes
        self.count = count
        self.values = values
        self.sizes = sizes ?? [PixelSize](repeating: PixelSize(width: 0, height: 0), count: count)
    }

    /// Held level `i`'s map of image `image`: `shapes[i].count` floats, NHWC.
    public func map(_ i: Int, of image: Int) -> ArraySlice<Float> {
        let start = image * floatsPerImage + offsets[i]
        return values[start..<(start + shapes[i].count)]
    }

    /// The images at `indices`, in that order.
    public func selecting(images indices: [Int]) -> FeatureMaps {
        let f = floatsPerImage
        var out = [Float]()
        out.reserveCapacity(indices.count * f)
        for i in indices { out.append(contentsOf: values[(i * f)..<((i + 1) * f)]) }
        var m = FeatureMaps(unchecked: levels, shapes, indices.count, out, sizes: indices.map { sizes[$0] })
        if !images.isEmpty { m.images = indices.map { images[$0] } }
        return m
    }

    /// Appends `other`'s images (the same levels).
    public mutating func append(_ other: FeatureMaps) {
        images = images.isEmpty && count > 0 ? [] : images + other.images
        values += other.values
        sizes += other.sizes
        count += other.count
    }
}
