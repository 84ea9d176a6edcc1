// Subcommand dispatch and shared helpers of the command-line tool.
import Foundation
import GaussianAD

/// A usage error: printed with the subcommand's help, exit code 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
}

/// Writes to standard error.
func printError(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}

enum CLI {
    static let overview = """
    gaussian-ad: anomaly detection with Gaussians over pretrained CNN features.

    Usage: gaussian-ad <command> [options]

    Commands:
      classify IMAGE...     top-5 ImageNet classes (checks the backbone works)
      evaluate [DATA]       the paper's protocol on a dataset (default: ELPV from set-up)
      fit DATA -o MODEL     fit a model on normal images
      score MODEL IMAGE...  score images against a model (- reads paths from stdin)
      info MODEL            describe a model file
      merge PART... -o OUT  merge the parts of a sharded fit's pass
      project, calibrate, refit
                            the later passes of a sharded fit (see merge --help)
      tune                  measure the fastest plan of a backbone on this machine
      version               the tool's version (also --version)

    Run 'gaussian-ad <command> --help' for a command's options.
    """

    static func run(_ args: [String]) -> Int32 {
        guard let cmd = args.first else { printError(overview); return 2 }
        let rest = Array(args.dropFirst())
        // The kernel level is capped here, where the tool starts, before any network is built.
        do {
            try Kernels.select(fromEnvironment: ProcessInfo.processInfo.environment)
        } catch {
            printError("gaussian-ad: \(error)")
            return 2
        }
        do {
            switch cmd {
            case "-h", "--help", "help": try printOutput(overview); return 0
            case "--version", "version": try printOutput("gaussian-ad \(GaussianADVersion.string)"); return 0
            case "classify": return try ClassifyCommand.run(rest)
            case "evaluate": return try EvaluateCommand.run(rest)
            case "fit": return try FitCommand.run(rest)
            case "score": return try ScoreCommand.run(rest)
            case "info": return try InfoCommand.run(rest)
            case "merge": return try MergeCommand.run(rest)
            case "calibrate": return try PassCommand.run(rest, pass: .calibration)
            case "project": return try PassCommand.run(rest, pass: .projection)
            case "refit": return try PassCommand.run(rest, pass: .moments)
            case "tune": return try TuneCommand.run(rest)
            default:
                printError("gaussian-ad: unknown command '\(cmd)'\n\n" + overview)
                return 2
            }
        } catch let e as UsageError {
            printError("gaussian-ad \(cmd): \(e.description)")
            return 2
        } catch let e as StandardOutputFailure {
            printError("gaussian-ad \(cmd): \(e.description)")
            return 1
        } catch {
            printError("gaussian-ad \(cmd): error: \(error)")
            return 1
        }
    }
}

/// A tiny option parser: `--name value`, `--flag`, and positionals.
struct Options {
    var positionals: [String] = []
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    init(_ args: [String], valued: Set<String>, flags allowedFlags: Set<String>, multi: Set<String> = []) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("-") && a.count > 1 {
                var name = a
                var inline: String? = nil
                if let eq = a.firstIndex(of: "=") { name = String(a[..<eq]); inline = String(a[a.index(after: eq)...]) }
                if valued.contains(name) {
                    var vals: [String] = []
                    if let v = inline { vals.append(v) } else {
                        guard i + 1 < args.count else { throw UsageError(description: "option \(name) needs a value") }
                        i += 1
                        vals.append(args[i])
                        if multi.contains(name) {
                            while i + 1 < args.count && !args[i + 1].hasPrefix("-") { i += 1; vals.append(args[i]) }
                        }
                    }
                    values[name, default: []].append(contentsOf: vals)
                } else if allowedFlags.contains(name) {
                    flags.insert(name)
                } else {
                    throw UsageError(description: "unknown option \(name)")
                }
            } else {
                positionals.append(a)
            }
            i += 1
        }
    }

    func value(_ name: String) -> String? { values[name]?.last }
    func has(_ flag: String) -> Bool { flags.contains(flag) }

    /// The input limits: built-in defaults, then the GAUSSIAN_AD_MAX_* environment variables,
    /// then `--max-image-pixels`.
    func limits() throws -> InputLimits {
        var l = try InputLimits.fromEnvironment()
        if let v = value("--max-image-pixels") {
            do { l.maxImagePixels = try InputLimits.parse(v, name: "--max-image-pixels") } catch {
                throw UsageError(description: "\(error)")
            }
        }
        return l
    }

    /// `--threads N`: threads of the network and of the float64 statistics (nil: every core).
    func threads() throws -> Int? {
        guard let v = value("--threads") else { return nil }
        guard let n = Int(v), n >= 1, n <= 1024 else { throw UsageError(description: "--threads takes a whole number from 1 to 1024, got '\(v)'") }
        return n
    }

    /// Help text for choosing a backbone.
    static let backboneHelp = """
      --backbone NAME       lite0 (default), lite1, lite2 (EfficientNet-Lite, fetched by set-up),
                            b0 ... b7 (EfficientNet-B), resnet18, resnet34, resnet50
      --weights FILE        the backbone's weights (.pth or .safetensors); default: the
                            published file name in the cache folder (docs/METHOD.md lists them).
                            A model file records the weights' SHA-256; score refuses others.

    """

    /// Help text for the options every image-reading command accepts.
    static let limitsHelp = """
      --threads N           threads of the network and the statistics (default: every core)
      --max-image-pixels N  largest image decoded, in pixels (default 89478485, or
                            GAUSSIAN_AD_MAX_IMAGE_PIXELS); larger files are refused unread
    """

    /// `--shard I/N` (nil: not given).
    func shard() throws -> Shard? {
        try value("--shard").map { s in
            guard let sh = Shard(s) else { throw UsageError(description: "--shard takes I/N with 0 <= I < N, got '\(s)'") }
            return sh
        }
    }

    /// `--fpr Q` (default 0.01), in (0, 1).
    func fpr() throws -> Double {
        let v = value("--fpr") ?? "0.01"
        guard let q = Double(v), q > 0, q < 1 else { throw UsageError(description: "--fpr must be in (0, 1), got '\(v)'") }
        return q
    }

    /// `--batch N` (default 16).
    func batch() throws -> Int {
        let v = value("--batch") ?? "16"
        guard let n = Int(v), n >= 1, n <= 4096 else { throw UsageError(description: "--batch takes a whole number from 1 to 4096, got '\(v)'") }
        return n
    }

    /// Help text for choosing levels.
    static let levelsHelp = """
      --levels LIST         the levels to use, by index: 0-8, 2,5,7, 4- (4 to the last) or
                            1,3-5 (default: every level of the backbone)

    """

    /// `--levels`, resolved against a backbone's `count` levels (nil: not given). A list of
    /// levels `A`, ranges `A-B` and open ranges `A-` (A to the last level), digits only.
    func levels(count: Int, option: String = "--levels") throws -> [Int]? {
        guard let s = value(option) else { return nil }
        func bad(_ why: String) -> UsageError {
            UsageError(description: "\(option) '\(s)': \(why) (give e.g. 0-8, 2,5,7 or 4-; levels 0-\(count - 1))")
        }
        func number(_ t: Substring) throws -> Int {
            guard !t.isEmpty, t.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(t) else {
                throw bad(t.isEmpty ? "a range without its first level" : "'\(t)' is not a level number")
            }
            guard v < count else { throw bad("level \(v) does not exist") }
            return v
        }
        var out: [Int] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw bad("an empty item") }
            let ends = part.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            if ends.count == 1 { out.append(try number(ends[0])); continue }
            let a = try number(ends[0]), b = ends[1].isEmpty ? count - 1 : try number(ends[1])
            guard a <= b else { throw bad("the range \(part) runs backwards") }
            out += Array(a...b)
        }
        guard Set(out).count == out.count else { throw bad("a level is listed twice") }
        return out
    }

    /// Throws unless every path in `paths` can be written (checked before any work).
    func checkOutputs(_ paths: [String?]) throws {
        for p in paths.compactMap({ $0 }) { try AtomicFile.checkWritable(URL(fileURLWithPath: p)) }
    }

    /// Opens DATA, printing a warning for each entry skipped.
    static func openDataset(_ url: URL) throws -> Dataset {
        let ds = try Dataset.open(url)
        for w in ds.warnings { printError("gaussian-ad: warning: \(w)") }
        return ds
    }

    /// The one category of DATA a fit works on: `--category`, else `named`, else the only one.
    func category(of dataURL: URL, named: String? = nil) throws -> DatasetCategory {
        var ds = try Options.openDataset(dataURL)
        if let c = value("--category") ?? (ds.categories.count > 1 ? named : nil) { ds = try ds.selecting([c]) }
        guard ds.categories.count == 1, let cat = ds.categories.first else {
            throw UsageError(description: "\(dataURL.path) has categories \(ds.categories.map(\.name).joined(separator: ", ")): choose one with --category")
        }
        return cat
    }

    /// Loads a backbone with `--weights` and `--threads`, planned for batches of `batch` by the
    /// tuning file's entry for this machine when there is one (a warning where the file cannot
    /// be used), else by the heuristic plan.
    func loadBackbone(_ kind: BackboneKind, batch: Int = FeatureExtractor.defaultBatchSize, limits: InputLimits) throws -> Backbone {
        let threads = try self.threads() ?? ProcessInfo.processInfo.activeProcessorCount
        let (plan, warning) = TuningFile.options(for: kind, batch: batch, threads: threads, url: cache.tuningFile)
        if let warning { printError(warning) }
        return try Backbone.load(kind, weights: value("--weights").map { URL(fileURLWithPath: $0) }, cache: cache,
                                 threads: threads, limits: limits, plan: plan)
    }

    /// The cache folder: `$GAUSSIAN_AD_HOME`, else `~/.cache/gaussian-ad`.
    var cache: CacheFolder { CacheFolder.fromEnvironment(ProcessInfo.processInfo.environment) }

    func backbone() throws -> BackboneKind {
        let name = value("--backbone") ?? "lite0"
        guard let k = BackboneKind(name: name) else {
            throw UsageError(description: "unknown backbone '\(name)' (\(BackboneKind.shortNames))")
        }
        return k
    }
}
