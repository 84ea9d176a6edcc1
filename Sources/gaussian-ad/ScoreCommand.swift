// `gaussian-ad score`: streams images through a model, one result a line as each completes.
import Foundation
import GaussianAD

enum ScoreCommand {
    static let help = """
    Usage: gaussian-ad score MODEL.gad IMAGE|DIR|-... [--json] [--batch 16] [--maps DIR]
                             [--shard I/N] [--resume FILE]

    Scores each image (folders and their subfolders are searched for PNG/JPEG files, names
    starting with a dot left out; - reads image paths from standard input, one a line) and prints, as each batch completes, the combined score, the
    verdict against the model's calibrated threshold and the per-level Mahalanobis distances.
    --json prints one JSON object a line: path, score, levels, threshold, verdict and
    anomalous, or path and error for an image that could not be read; the others are still
    scored and the exit status is 1 at the end. A score that is not finite is never called
    normal: its verdict is "not-finite", counted as anomalous.

      --maps DIR     where each image looks anomalous: writes DIR/NAME.npy, the anomaly map at
                     the image's own height x width (float32, what numpy.load reads), and
                     DIR/NAME.png, the image in grey with the map over it in the inferno colour
                     map (transparent at the normal level 1, half-strength at the pixel
                     threshold) and the defect regions outlined in white; NAME is the file's
                     stem and a hash of its path, so images of different folders never collide.
                     Each line then also gives the peak [x, y] and the regions (the connected
                     areas above the model's pixel threshold: box [x, y, width, height], area
                     and peak, in image pixels); --json adds "map", "overlay", "peak" and
                     "regions". The model must have been fitted with maps (gaussian-ad fit does
                     by default).
      --shard I/N    keep only the inputs whose stable path hash falls in shard I of N
                     (0 <= I < N): N processes with I = 0..N-1 score every input exactly once
      --resume FILE  skip the inputs whose path already has a line in FILE, an earlier
                     --json output (append the new output to it: score ... >> FILE)

    """ + Options.limitsHelp

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: ["--batch", "--weights", "--max-image-pixels", "--threads", "--shard", "--resume", "--maps"],
                            flags: ["-h", "--help", "--json"])
        if o.has("-h") || o.has("--help") { try printOutput(help); return 0 }
        guard o.positionals.count >= 2 else { throw UsageError(description: "give a model and at least one image, folder or -\n\n" + help) }
        let shard = try o.shard()
        let batch = try o.batch()
        if o.value("--resume") != nil && !o.has("--json") {
            throw UsageError(description: "--resume reads an earlier --json output: give --json too (score ... --json --resume FILE >> FILE)")
        }
        if let r = o.value("--resume") { try lock(r) }
        let done = Set(try o.value("--resume").map(pathsAlreadyScored) ?? [])
        let modelURL = URL(fileURLWithPath: o.positionals[0])
        let limits = try o.limits()
        let threads = try o.threads()
        let mapsFolder = o.value("--maps").map { URL(fileURLWithPath: $0) }
        let (file, net) = try ModelFile.load(from: modelURL, limits: limits) { kind in
            try o.loadBackbone(kind, batch: batch, limits: limits)
        }
        if let m = mapsFolder { try MapFiles.checkWritable(m) }
        let detector = try Detector(model: file, modelPath: modelURL.path, backbone: net, batchSize: batch, limits: limits,
                                    maps: mapsFolder != nil, threads: threads)
        // Created once the model is known to make maps: a refused model leaves nothing behind.
        let mapFiles = try mapsFolder.map { try MapFiles(folder: $0) }
        let out = Output(json: o.has("--json"), detector: detector, mapFiles: mapFiles)
        // A line cut short by a killed run is ended first, so that the lines appended after it
        // (score ... --resume FILE >> FILE) start whole.
        if let r = o.value("--resume"), let h = FileHandle(forReadingAtPath: r) {
            defer { try? h.close() }
            if let end = try? h.seekToEnd(), end > 0 {
                try h.seek(toOffset: end - 1)
                if let last = try h.read(upToCount: 1), last != Data([UInt8(ascii: "\n")]) {
                    try printOutput("")
                }
            }
        }
        var inputs = Inputs(o.positionals.dropFirst())
        var chunk: [String] = []
        var failed = 0, seen = 0
        func flush() throws {
            guard !chunk.isEmpty else { return }
            try out.score(chunk)
            chunk.removeAll(keepingCapacity: true)
        }
        while let p = inputs.next() {
            seen += 1
            if let sh = shard, !sh.contains(p) { continue }
            if !done.isEmpty && done.contains(normalized(p)) { continue }
            chunk.append(p)
            if chunk.count == detector.imagesPerRun { try flush() }
        }
        try flush()
        failed = try out.finish()
        if seen == 0 { throw UsageError(description: "no PNG/JPEG images found in \(o.positionals.dropFirst().joined(separator: " "))") }
        if !out.json, let wp = file.workingPoint { try printOutput(String(format: "threshold %.4f (target FPR %.4f)", wp.threshold, wp.targetFPR)) }
        if !out.json, mapFiles != nil, let t = file.maps?.pixelThreshold {
            try printOutput(String(format: "pixel threshold %.4f (pixel FPR %g); maps in %@", t, file.maps!.settings.pixelFPR, mapFiles!.folder.path))
        }
        return failed > 0 ? 1 : 0
    }

    /// The normalised paths of the lines of an earlier --json output (a missing file: none
    /// yet; a line cut short by a killed run is ignored).
    static func pathsAlreadyScored(_ file: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: file) else { return [] }
        let data = try FileBytes.read(URL(fileURLWithPath: file))
        var done: [String] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let p = obj["path"] as? String {
                done.append(normalized(p))
            }
        }
        return done
    }

    /// `path` made absolute against the working folder, with `.`, `..` and repeated slashes
    /// resolved as text (links are not followed): `./d/x.png`, `d//x.png` and the absolute
    /// spelling are one image.
    static func normalized(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for c in full.split(separator: "/") where c != "." {
            if c == ".." { _ = parts.popLast() } else { parts.append(c) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Takes an advisory lock (flock) on the resume file for the life of the process, so that a
    /// second process resuming into it is refused instead of scoring the same images twice.
    static func lock(_ file: String) throws {
        let fd = open(file, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GaussianADError.unreadableFile(path: file, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            close(fd)
            if busy {
                throw GaussianADError.invalidArgument("\(file) is in use: another gaussian-ad score holds its lock and is resuming into it; wait for it to end, or give each process a file of its own (--shard I/N splits the inputs)")
            }
            throw GaussianADError.unreadableFile(path: file, reason: "cannot lock it: \(String(cString: strerror(errno)))")
        }
        // The descriptor stays open: the lock lasts until the process ends.
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
                    // Only the terminator (LF or CRLF) is removed: spaces belong to the path.
                    if var line = readLine(strippingNewline: true) {
                        if line.hasSuffix("\r") { line.removeLast() }
                        if !line.isEmpty { return line }
                        continue
                    }
                    readingStdin = false
                }
                guard let a = args.popFirst() else { return nil }
                if a == "-" { readingStdin = true; continue }
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: a, isDirectory: &isDir), isDir.boolValue {
                    var warnings: [String] = []
                    let found = (try? ImageFolder.list(URL(fileURLWithPath: a), recursive: true, warnings: &warnings)) ?? []
                    for w in warnings { printError("gaussian-ad score: warning: \(w)") }
                    pending = found.map { (a as NSString).appendingPathComponent($0) }
                } else {
                    // A missing file gets its error line in its place (and exit status 1).
                    return a
                }
            }
        }
    }

    /// Writes one line per image, each with one write so that a killed run leaves whole lines.
    /// With maps, a batch's files are written and its lines printed by a writer thread while the
    /// network runs the next batch (one batch waits at most): creating files is mostly the
    /// file system's time, which the network's threads need not wait for.
    final class Output {
        let json: Bool
        let detector: Detector
        let mapFiles: MapFiles?
        private let writer = DispatchQueue(label: "gaussian-ad.score.writer")
        private let pending = DispatchSemaphore(value: 1)
        private let lock = NSLock()
        private var failed = 0
        private var failure: Error?

        init(json: Bool, detector: Detector, mapFiles: MapFiles?) {
            self.json = json
            self.detector = detector
            self.mapFiles = mapFiles
        }

        /// Scores `paths` (one batch); its lines follow in order.
        /// - Throws: what an earlier batch's writing threw.
        func score(_ paths: [String]) throws {
            try check()
            let results = detector.detect(paths.map { URL(fileURLWithPath: $0) })
            guard let mapFiles else {
                let f = try lines(paths, results, files: nil)
                lock.lock(); failed += f; lock.unlock()
                return
            }
            let encoded = try mapFiles.encode(results, paths: paths, detector: detector)
            pending.wait()
            writer.async { [self] in
                defer { pending.signal() }
                do {
                    let files = try MapFiles.save(encoded)
                    let f = try lines(paths, results, files: files)
                    lock.lock(); failed += f; lock.unlock()
                } catch {
                    lock.lock(); if failure == nil { failure = error }; lock.unlock()
                }
            }
        }

        /// Waits for the last batch's files and lines; returns how many images failed.
        /// - Throws: the first file or line that could not be written.
        func finish() throws -> Int {
            writer.sync {}
            try check()
            lock.lock(); defer { lock.unlock() }
            return failed
        }

        private func check() throws {
            lock.lock(); defer { lock.unlock() }
            if let failure { throw failure }
        }

        /// Writes the lines of one batch; returns how many of its images failed.
        private func lines(_ paths: [String], _ results: [Result<Detection, Error>], files: [(map: URL, overlay: URL)?]?) throws -> Int {
            let levels = detector.file.model.levels.map(\.level)
            let wp = detector.file.workingPoint
            var failed = 0
            for (i, p) in paths.enumerated() {
                let d: Detection
                switch results[i] {
                case .failure(let e):
                    failed += 1
                    printError("gaussian-ad score: \(e)")
                    if json {
                        var line = JSONLine()
                        line.set("path", p)
                        line.set("error", "\(e)")
                        try write(line.text)
                    } else {
                        try write("     error  \(p)  \(e)")
                    }
                    continue
                case .success(let x): d = x
                }
                let score = d.score
                if d.verdict == .notFinite || (wp == nil && !score.isFinite) {
                    printError("gaussian-ad score: \(p): the score is not finite (\(score)); it is not taken as normal")
                }
                let peak = d.map?.peak
                if json {
                    var line = JSONLine()
                    line.set("path", p)
                    line.set("score", score)
                    var per = JSONLine()
                    for (k, l) in levels.enumerated() { per.set("\(l)", d.levels[k]) }
                    line.set("levels", raw: per.text)
                    if let wp { line.set("threshold", wp.threshold) }
                    if let v = d.verdict { line.set("anomalous", v.isAnomalous); line.set("verdict", v.rawValue) }
                    if let f = files?[i], let peak {
                        line.set("map", f.map.path)
                        line.set("overlay", f.overlay.path)
                        line.set("peak", raw: "[\(peak.x),\(peak.y)]")
                        line.set("peak_value", Double(peak.value))
                        line.set("regions", raw: "[" + d.regions.map { r in
                            var g = JSONLine()
                            g.set("box", raw: "[\(r.x),\(r.y),\(r.width),\(r.height)]")
                            g.set("area", r.area)
                            g.set("peak", Double(r.peak))
                            g.set("peak_at", raw: "[\(r.peakX),\(r.peakY)]")
                            return g.text
                        }.joined(separator: ",") + "]")
                    }
                    try write(line.text)
                } else {
                    let word = d.verdict.map { $0 == .normal ? "normal" : $0.rawValue.uppercased() } ?? "-"
                    let per = levels.enumerated().map { String(format: "%d:%.2f", $1, d.levels[$0]) }.joined(separator: " ")
                    var line = String(format: "%10.4f  %@  %@  [%@]", score, word.padding(toLength: 11, withPad: " ", startingAt: 0), p, per)
                    if let peak {
                        line += String(format: "  peak (%d, %d) %.3f, %d region%@", peak.x, peak.y, peak.value, d.regions.count, d.regions.count == 1 ? "" : "s")
                        line += d.regions.prefix(3).map { " [\($0.x),\($0.y) \($0.width)x\($0.height)]" }.joined()
                    }
                    try write(line)
                }
            }
            return failed
        }

        private func write(_ line: String) throws { try printOutput(line) }
    }
}
