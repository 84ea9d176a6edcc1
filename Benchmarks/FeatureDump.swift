// `gaussian-ad-bench features`: the pooled features of one dataset category, written as raw
// little-endian float32 rows beside a list of their paths, for the NumPy reference generators
// (scripts/contamination_reference.py).
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
        let feats = try FeatureExtractor(backbone: net).extract(cat.items.map(\.url))
        var floats = feats.values.map { Float($0) }
        let bytes = Data(bytes: &floats, count: floats.count * 4)
        try bytes.write(to: URL(fileURLWithPath: out + ".f32"))
        let lines = cat.items.map { "\($0.relativePath) \($0.label)" }.joined(separator: "\n") + "\n"
        try lines.write(toFile: out + ".txt", atomically: true, encoding: .utf8)
        print("wrote \(feats.rows) rows of \(feats.levelDims.reduce(0, +)) features (levels \(feats.levelDims)) to \(out).f32 and their paths and labels to \(out).txt")
    }
}
