// How a model's anomaly maps are made, fixed at fit time: the levels, the grid of cells whose
// positions share a Gaussian, the pixel false-positive rate (docs/METHOD.md 9).
import Foundation

/// The settings of a model's anomaly maps.
///
///     let s = try MapSettings(levels: [3, 4, 5], grid: .cells(1), pixelFPR: 0.001, backbone: .efficientNetLite0)
public struct MapSettings: Sendable, Codable, Equatable {
    /// Levels whose per-position features are modelled, in order.
    public var levels: [Int]
    /// The cells of each level's map whose positions share one Gaussian.
    public var grid: MapGrid
    /// The pixel working point's false-positive rate q: the threshold is the (1 - q) quantile
    /// of the normal training images' out-of-fold map values.
    public var pixelFPR: Double

    /// The Gaussian smoothing of the combined map, in pixels at the network's input size (PaDiM's).
    public static let smoothingSigma = 4.0
    /// The default pixel false-positive rate.
    public static let defaultPixelFPR = 0.001

    /// The levels that localise best by default (docs/METHOD.md 9): the three middle stages
    /// of an EfficientNet (28 x 28 to 14 x 14 at 224), layer1 to layer3 of a ResNet.
    public static func defaultLevels(for kind: BackboneKind) -> [Int] {
        kind.family == .resnet ? [1, 2, 3] : [3, 4, 5]
    }

    /// Settings for `backbone`, checked: distinct levels of it, q in (0, 1).
    public init(levels: [Int], grid: MapGrid = .cells(1), pixelFPR: Double = MapSettings.defaultPixelFPR,
                backbone: BackboneKind) throws {
        guard !levels.isEmpty, levels.allSatisfy({ $0 >= 0 && $0 < backbone.levelDims.count }), Set(levels).count == levels.count else {
            throw GaussianADError.invalidArgument("map levels \(levels) are not distinct levels of 0...\(backbone.levelDims.count - 1)")
        }
        guard pixelFPR > 0, pixelFPR < 1 else {
            throw GaussianADError.invalidArgument("the pixel false-positive rate must be in (0, 1), got \(pixelFPR)")
        }
        if case .cells(let n) = grid, n < 1 {
            throw GaussianADError.invalidArgument("--map-grid takes a positive number of cells a side, got \(n)")
        }
        self.levels = levels
        self.grid = grid
        self.pixelFPR = pixelFPR
    }
}

/// The cells of a level's map: `cells(n)` splits it into n x n rectangles (at most one a
/// position) whose positions share one Gaussian; `perPosition` gives every position its own
/// (PaDiM). One cell (the default) suits textures and parts that are not aligned.
public enum MapGrid: Sendable, Equatable, Codable, CustomStringConvertible {
    /// n x n cells (clamped to the map's size).
    case cells(Int)
    /// One cell per position.
    case perPosition

    /// Parses `--map-grid`: a positive whole number n (n x n cells) or `position`.
    public init(parsing s: String) throws {
        if s == "position" || s == "positions" { self = .perPosition; return }
        guard let n = Int(s), n >= 1, n <= 4096 else {
            throw GaussianADError.invalidArgument("--map-grid takes a number of cells a side (1 to 4096) or 'position', got '\(s)'")
        }
        self = .cells(n)
    }

    public var description: String {
        switch self {
        case .cells(let n): return "\(n)x\(n)"
        case .perPosition: return "position"
        }
    }

    /// Rows and columns of cells on a map of `shape`.
    public func cells(on shape: MapShape) -> (rows: Int, columns: Int) {
        switch self {
        case .cells(let n): return (min(n, shape.h), min(n, shape.w))
        case .perPosition: return (shape.h, shape.w)
        }
    }

    /// The cell of every position of a map of `shape`, row-major: position (y, x) falls in
    /// cell (y * rows / h) * columns + x * columns / w.
    public func cellOfPosition(on shape: MapShape) -> [Int] {
        let (r, c) = cells(on: shape)
        var out = [Int](repeating: 0, count: shape.positions)
        for y in 0..<shape.h { for x in 0..<shape.w { out[y * shape.w + x] = (y * r / shape.h) * c + x * c / shape.w } }
        return out
    }

    private enum CodingKeys: String, CodingKey { case cells }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let n = try c.decode(Int.self, forKey: .cells)
        self = n == 0 ? .perPosition : .cells(n)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .cells(let n): try c.encode(n, forKey: .cells)
        case .perPosition: try c.encode(0, forKey: .cells)
        }
    }
}
