// `gaussian-ad score`: scores, per-level distances and verdicts of images against a model.
import Foundation
import GaussianAD

enum ScoreCommand {
    static let help = """
    Usage: gaussian-ad score MODEL.gad IMAGE|DIR... [--json] [--batch 16]

    Scores each image (folders are searched for PNG/JPEG files) and prints the combined
    score, the verdict against the model's calibrated threshold and the per-level Mahalanobis
    distances. --json prints one JSON object a line. A score that is not finite is never
    called normal: its verdict is "not-finite", counted as anomalous.

    """ + Options.limitsHelp

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: ["--batch", "--weights", "--max-image-pixels", "--threads"], flags: ["-h", "--help", "--json"])
        if o.has("-h") || o.has("--help") { print(help); return 0 }
        guard o.positionals.count >= 2 else { throw UsageError(description: "give a model and at least one image or folder\n\n" + help) }
        let modelURL = URL(fileURLWithPath: o.positionals[0])
        let limits = try o.limits()
        let file = try ModelFile.load(from: modelURL, limits: limits)
        let threads = try o.threads()
        let net = try Backbone.load(file.backbone, weights: o.value("--weights").map { URL(fileURLWithPath: $0) }, threads: threads, limits: limits)
        guard net.weightsSHA256 == file.weightsSHA256 else {
            throw GaussianADError.badModelFile(path: modelURL.path, reason: "fitted with \(file.backbone.rawValue) weights \(file.weightsSHA256.prefix(12))…, but the loaded weights are \(net.weightsSHA256.prefix(12))…")
        }
        let urls = try o.positionals.dropFirst().flatMap(expand)
        guard !urls.isEmpty else { throw UsageError(description: "no PNG/JPEG images found in \(o.positionals.dropFirst().joined(separator: " "))") }
        let fx = FeatureExtractor(backbone: net, batchSize: Int(o.value("--batch") ?? "16") ?? 16, limits: limits)
        let wp = file.workingPoint
        let levels = file.model.levels.map(\.level)
        var start = 0
        while start < urls.count {
            let chunk = Array(urls[start..<min(urls.count, start + 256)])
            let s = try file.model.score(try fx.extract(chunk), threads: threads)
            let comb = s.combined
            for (i, u) in chunk.enumerated() {
                let verdict = wp?.verdict(comb[i])
                if verdict == .notFinite || (wp == nil && !comb[i].isFinite) {
                    printError("gaussian-ad score: \(u.path): the score is not finite (\(comb[i])); it is not taken as normal")
                }
                if o.has("--json") {
                    var obj: [String: Any] = ["path": u.path, "score": comb[i],
                                              "levels": Dictionary(uniqueKeysWithValues: levels.enumerated().map { ("\($1)", s.perLevel[$0][i]) })]
                    if let wp { obj["threshold"] = wp.threshold }
                    if let v = verdict { obj["anomalous"] = v.isAnomalous; obj["verdict"] = v.rawValue }
                    let d = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
                    print(String(decoding: d, as: UTF8.self))
                } else {
                    let word = verdict.map { $0 == .normal ? "normal" : $0.rawValue.uppercased() } ?? "-"
                    let per = levels.enumerated().map { String(format: "%d:%.2f", $1, s.perLevel[$0][i]) }.joined(separator: " ")
                    print(String(format: "%10.4f  %@  %@  [%@]", comb[i], word.padding(toLength: 11, withPad: " ", startingAt: 0), u.path, per))
                }
            }
            start += chunk.count
        }
        if !o.has("--json"), let wp { print(String(format: "threshold %.4f (target FPR %.4f)", wp.threshold, wp.targetFPR)) }
        return 0
    }

    /// A file, or the images below a folder (sorted).
    static func expand(_ p: String) throws -> [URL] {
        let url = URL(fileURLWithPath: p)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
            throw GaussianADError.unreadableFile(path: p, reason: "no such file or folder")
        }
        guard isDir.boolValue else { return [url] }
        let e = FileManager.default.enumerator(atPath: p)
        var out: [String] = []
        while let f = e?.nextObject() as? String {
            if Dataset.imageExtensions.contains((f as NSString).pathExtension.lowercased()) { out.append(f) }
        }
        return out.sorted().map { url.appendingPathComponent($0) }
    }
}
