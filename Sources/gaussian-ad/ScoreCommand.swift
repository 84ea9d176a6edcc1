// `gaussian-ad score`: streams images through a model, one result a line as each completes.
import Foundation
import GaussianAD

enum ScoreCommand {
    static let help = """
    Usage: gaussian-ad score MODEL.gad IMAGE|DIR|-... [--json] [--batch 16]
                             [--shard I/N] [--resume FILE]

    Scores each image (folders are searched for PNG/JPEG files; - reads image paths from
    standard input, one a line) and prints, as each batch completes, the combined score, the
    verdict against the model's calibrated threshold and the per-level Mahalanobis distances.
    --json prints one JSON object a line: path, score, levels, threshold, verdict and
    anomalous, or path and error for an image that could not be read; the others are still
    scored and the exit status is 1 at the end. A score that is not finite is never called
    normal: its verdict is "not-finite", counted as anomalous.

      --shard I/N    keep only the inputs whose stable path hash falls in shard I of N
                     (0 <= I < N): N processes with I = 0..N-1 score every input exactly once
      --resume FILE  skip the inputs whose path already has a line in FILE, an earlier
                     --json output (append the new output to it: score ... >> FILE)

    """ + Options.limitsHelp

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: ["--batch", "--weights", "--max-image-pixels", "--threads", "--shard", "--resume"],
                            flags: ["-h", "--help", "--json"])
        if o.has("-h") || o.has("--help") { print(help); return 0 }
        guard o.positionals.count >= 2 else { throw UsageError(description: "give a model and at least one image, folder or -\n\n" + help) }
        let shard = try o.shard()
        let batch = try o.batch()
        let done = try o.value("--resume").map(pathsAlreadyScored) ?? []
        let modelURL = URL(fileURLWithPath: o.positionals[0])
        let limits = try o.limits()
        let file = try ModelFile.load(from: modelURL, limits: limits)
        let threads = try o.threads()
        let net = try o.loadBackbone(file.backbone, batch: batch, limits: limits)
        guard net.weightsSHA256 == file.weightsSHA256 else {
            throw GaussianADError.badModelFile(path: modelURL.path, reason: "fitted with \(file.backbone.rawValue) weights \(file.weightsSHA256.prefix(12))…, but the loaded weights are \(net.weightsSHA256.prefix(12))…")
        }
        let fx = FeatureExtractor(backbone: net, batchSize: batch, limits: limits)
        let out = Output(json: o.has("--json"), model: file)
        // A line cut short by a killed run is ended first, so that the lines appended after it
        // (score ... --resume FILE >> FILE) start whole.
        if let r = o.value("--resume"), let h = FileHandle(forReadingAtPath: r) {
            defer { try? h.close() }
            if let end = try? h.seekToEnd(), end > 0 {
                try h.seek(toOffset: end - 1)
                if let last = try h.read(upToCount: 1), last != Data([UInt8(ascii: "\n")]) {
                    try FileHandle.standardOutput.write(contentsOf: Data("\n".utf8))
                }
            }
        }
        var inputs = Inputs(o.positionals.dropFirst())
        var chunk: [String] = []
        var failed = 0, seen = 0
        func flush() throws {
            guard !chunk.isEmpty else { return }
            failed += try out.score(chunk, extractor: fx, threads: threads)
            chunk.removeAll(keepingCapacity: true)
        }
        while let p = inputs.next() {
            seen += 1
            if let sh = shard, !sh.contains(p) { continue }
            if done.contains(p) { continue }
            chunk.append(p)
            if chunk.count == batch { try flush() }
        }
        try flush()
        if seen == 0 { throw UsageError(description: "no PNG/JPEG images found in \(o.positionals.dropFirst().joined(separator: " "))") }
        if !out.json, let wp = file.workingPoint { print(String(format: "threshold %.4f (target FPR %.4f)", wp.threshold, wp.targetFPR)) }
        return failed > 0 ? 1 : 0
    }

    /// The paths of the lines of an earlier --json output (a missing file: none yet; a line
    /// cut short by a killed run is ignored).
    static func pathsAlreadyScored(_ file: String) throws -> Set<String> {
        guard FileManager.default.fileExists(atPath: file) else { return [] }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw GaussianADError.unreadableFile(path: file, reason: "cannot read the --resume file")
        }
        var done = Set<String>()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let p = obj["path"] as? String {
                done.insert(p)
            }
        }
        return done
    }

    /// The inputs in order: files as given, folders' images sorted, `-` as standard input's lines.
    struct Inputs {
        private var args: ArraySlice<String>
        private var pending: [String] = []
        private var readingStdin = false

        init(_ args: ArraySlice<String>) { self.args = args }

        mutating func next() -> String? {
            while true {
                if !pending.isEmpty { return pending.removeFirst() }
                if readingStdin {
                    if let line = readLine() {
                        let p = line.trimmingCharacters(in: .whitespaces)
                        if !p.isEmpty { return p }
                        continue
                    }
                    readingStdin = false
                }
                guard let a = args.popFirst() else { return nil }
                if a == "-" { readingStdin = true; continue }
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: a, isDirectory: &isDir), isDir.boolValue {
                    let e = FileManager.default.enumerator(atPath: a)
                    var found: [String] = []
                    while let f = e?.nextObject() as? String {
                        if Dataset.imageExtensions.contains((f as NSString).pathExtension.lowercased()) { found.append(f) }
                    }
                    pending = found.sorted().map { (a as NSString).appendingPathComponent($0) }
                } else {
                    // A missing file gets its error line in its place (and exit status 1).
                    return a
                }
            }
        }
    }

    /// Writes one line per image, each with one write so that a killed run leaves whole lines.
    struct Output {
        let json: Bool
        let model: ModelFile

        /// Scores `paths` (one batch) and writes their lines in order; returns how many failed.
        func score(_ paths: [String], extractor fx: FeatureExtractor, threads: Int?) throws -> Int {
            let (feats, errors) = fx.extractEach(paths.map { URL(fileURLWithPath: $0) })
            let s = feats.rows > 0 ? try model.model.score(feats, threads: threads) : nil
            let comb = s?.combined ?? []
            let levels = model.model.levels.map(\.level)
            let wp = model.workingPoint
            var row = 0, failed = 0
            for (i, p) in paths.enumerated() {
                if let e = errors[i] {
                    failed += 1
                    printError("gaussian-ad score: \(e)")
                    if json { try write(["path": p, "error": "\(e)"]) } else { try write("     error  \(p)  \(e)") }
                    continue
                }
                let score = comb[row]
                let verdict = wp?.verdict(score)
                if verdict == .notFinite || (wp == nil && !score.isFinite) {
                    printError("gaussian-ad score: \(p): the score is not finite (\(score)); it is not taken as normal")
                }
                if json {
                    var obj: [String: Any] = ["path": p, "score": score,
                                              "levels": Dictionary(uniqueKeysWithValues: levels.enumerated().map { ("\($1)", s!.perLevel[$0][row]) })]
                    if let wp { obj["threshold"] = wp.threshold }
                    if let v = verdict { obj["anomalous"] = v.isAnomalous; obj["verdict"] = v.rawValue }
                    try write(obj)
                } else {
                    let word = verdict.map { $0 == .normal ? "normal" : $0.rawValue.uppercased() } ?? "-"
                    let per = levels.enumerated().map { String(format: "%d:%.2f", $1, s!.perLevel[$0][row]) }.joined(separator: " ")
                    try write(String(format: "%10.4f  %@  %@  [%@]", score, word.padding(toLength: 11, withPad: " ", startingAt: 0), p, per))
                }
                row += 1
            }
            return failed
        }

        private func write(_ obj: [String: Any]) throws {
            let d = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
            try write(String(decoding: d, as: UTF8.self))
        }

        private func write(_ line: String) throws {
            try FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
        }
    }
}
