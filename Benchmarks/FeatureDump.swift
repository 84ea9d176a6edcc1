// `gaussian-ad-bench features`: the pooled features of one dataset category, written as raw
// little-endian float32 rows beside a list of their paths, and with --map-levels L,L the maps of
// those levels, for the NumPy reference generators (scripts/contamination-reference,
// scripts/maps-reference). `gaussian-ad-bench defects`: the synthetic-defect tree they read.
import Foundation
import GaussianAD

enum FeatureDump {
    static func run() throws {
        guard let kind = BackboneKind(name: arg("--backbone", "lite0")) else {
            throw GaussianADError.invalidArgument("unknown --backbone (\(BackboneKind.shortNames))")
        }
        let out = arg("-o", "")
        guard !out.isEmpty else { throw GaussianADError.invalidArgument("features needs -o PREFIX (writes PREFIX.f32 and PREFIX.txt)") }
        let threads = Int(arg("--threads", "2")) ?? 2
        let data = arg("--data", cache.elpvData.path)
        let dataset = try Dataset.open(URL(fileURLWithPath: data))
        let name = arg("--category", dataset.categories.first?.name ?? "")
        guard let cat = dataset.categories.first(where: { $0.name == name }) else {
            throw GaussianADError.invalidArgument("no category \(name) in \(data)")
        }
        let net = try Backbone.load(kind, weights: EngineBench.weightsArgument(), cache: cache, threads: threads)
        let mapLevels = arg("--map-levels", "").split(separator: ",").compactMap { Int($0) }
        let feats = try FeatureExtractor(backbone: net, mapLevels: mapLevels).extract(cat.items.map(\.url))
        var floats = feats.values.map { Float($0) }
        let bytes = Data(bytes: &floats, count: floats.count * 4)
        try bytes.write(to: URL(fileURLWithPath: out + ".f32"))
        if let maps = feats.maps {
            // Each image's maps of the levels asked for (h x w x c each, NHWC), one after another.
            try maps.values.withUnsafeBufferPointer { try Data(buffer: $0).write(to: URL(fileURLWithPath: out + ".maps.f32")) }
            let index: [String: Any] = ["levels": maps.levels, "shapes": maps.shapes.map { [$0.h, $0.w, $0.c] },
                                        "input_size": kind.inputSize, "sizes": maps.sizes.map { [$0.width, $0.height] },
                                        "paths": cat.items.map(\.relativePath)]
            try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys]).write(to: URL(fileURLWithPath: out + ".maps.json"))
            print("wrote the maps of levels \(maps.levels) to \(out).maps.f32 (index \(out).maps.json)")
        }
        let lines = cat.items.map { "\($0.relativePath) \($0.label)" }.joined(separator: "\n") + "\n"
        try lines.write(toFile: out + ".txt", atomically: true, encoding: .utf8)
        print("wrote \(feats.rows) rows of \(feats.levelDims.reduce(0, +)) features (levels \(feats.levelDims)) to \(out).f32 and their paths and labels to \(out).txt")
    }

    /// `defects --out DIR [--data ELPV] [--type mono] [--seed 1]`: the synthetic-defect tree of
    /// ELPV normal cells of one type (docs/METHOD.md 9.4).
    static func defects() throws {
        let out = arg("--out", "")
        guard !out.isEmpty else { throw GaussianADError.invalidArgument("defects needs --out DIR") }
        let data = arg("--data", cache.elpvData.path), type = arg("--type", "mono")
        let ds = try Dataset.open(URL(fileURLWithPath: data))
        guard let cat = ds.categories.first(where: { $0.name == type }) else {
            throw GaussianADError.invalidArgument("no category \(type) in \(data)")
        }
        let normals = cat.items.filter { $0.label == 0 }.map(\.url)
        try SyntheticDefects.makeTree(normals: normals, at: URL(fileURLWithPath: out), seed: UInt64(arg("--seed", "1")) ?? 1)
        print("wrote the synthetic-defect tree of \(normals.count) normal \(type) cells to \(out)")
    }
}
