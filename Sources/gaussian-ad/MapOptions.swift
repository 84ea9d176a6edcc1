// The options of the anomaly maps that `fit` models (levels, grid, pixel false-positive rate).
import Foundation
import GaussianAD

enum MapOptions {
    static let flags: Set<String> = ["--no-maps"]
    static let valued: Set<String> = ["--map-levels", "--map-grid", "--pixel-fpr"]

    static let help = """
      --map-grid N          anomaly maps: positions share a Gaussian within each of N x N cells of
                            a level's map (default 1: every position shares one, for textures and
                            parts that are not aligned; 'position': one per position, as PaDiM,
                            for aligned parts; memory grows with the cells, see --max-memory)
      --map-levels LIST     the levels the maps are made of (default 3-5; ResNet 1-3)
      --pixel-fpr Q         the pixel working point: the (1 - Q) quantile of the normal training
                            images' out-of-fold map values (default 0.001); score --maps outlines
                            the areas above it
      --no-maps             fit no anomaly maps (score --maps then refuses the model)

    """

    /// The maps `o` asks `fit` for on `kind` (nil with --no-maps).
    static func settings(_ o: Options, kind: BackboneKind) throws -> MapSettings? {
        if o.has("--no-maps") {
            if let v = valued.first(where: { o.value($0) != nil }) { throw UsageError(description: "\(v) and --no-maps exclude each other") }
            return nil
        }
        let levels = try o.levels(count: kind.levelDims.count, option: "--map-levels") ?? MapSettings.defaultLevels(for: kind)
        let grid: MapGrid
        do { grid = try o.value("--map-grid").map { try MapGrid(parsing: $0) } ?? .cells(1) } catch {
            throw UsageError(description: "\(error)")
        }
        var q = MapSettings.defaultPixelFPR
        if let s = o.value("--pixel-fpr") {
            guard let v = Double(s), v > 0, v < 1 else { throw UsageError(description: "--pixel-fpr must be in (0, 1), got \(s)") }
            q = v
        }
        return try MapSettings(levels: levels, grid: grid, pixelFPR: q, backbone: kind)
    }

    /// Throws unless the map sums and models of `settings` (the full fit, every fold's sums and
    /// every out-of-fold model) fit in half of `maxMemory`.
    static func checkMemory(_ settings: MapSettings, net: Backbone, folds: Int, maxMemory: Int) throws {
        let one = SpatialAccumulator.bytes(settings: settings, levelShapes: net.levelShapes)
        let need = one * (2 * folds + 2)
        guard need <= maxMemory / 2 else {
            throw UsageError(description: String(format: "the anomaly maps of a %@ grid on levels %@ need about %.0f MiB for %d folds, more than half of --max-memory (%.0f MiB): give a coarser --map-grid, fewer --map-levels, or a larger --max-memory",
                                                 settings.grid.description, "\(settings.levels)", Double(need) / 1048576, folds, Double(maxMemory) / 1048576))
        }
    }
}

extension MapOptions {
    /// One line on a model's maps: levels, grid, pixel threshold.
    static func describe(_ m: SpatialModel) -> String {
        let t = m.pixelThreshold.map { String(format: "%.4f", $0) } ?? "not calibrated"
        return "anomaly maps: levels \(m.settings.levels), grid \(m.settings.grid), pixel threshold \(t) at pixel FPR \(m.settings.pixelFPR) (\(m.calibrationImages) normal images)"
    }
}
