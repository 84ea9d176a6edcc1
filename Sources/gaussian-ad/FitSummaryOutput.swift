// What `fit` and the last `merge` of a sharded fit say of the training images: the suspects
// on the terminal, the whole summary with --json, and the model's metadata of a robust fit.
import Foundation
import GaussianAD

enum FitSummaryOutput {
    /// Suspects listed on the terminal (all of them go to --json).
    static let shown = 10

    /// Help text of the options.
    static let help = """
      --contamination R     a robust fit for a folder that may hold defective parts: R is
                            auto (drop the images past the documented cut, docs/METHOD.md 8)
                            or a fraction F (drop the F most suspect); the model is refitted
                            without them until the dropped set stops changing (4 rounds at
                            most) and the threshold is set on the kept images
      --json FILE           write a summary of the fit: images, threshold, suspects (path,
                            score, p) and the excluded paths, relative to DATA

    """

    /// Parses `--contamination` (nil: not given).
    static func contamination(_ o: Options) throws -> Contamination? {
        try o.value("--contamination").map { v in
            do { return try Contamination(parsing: v) } catch { throw UsageError(description: "\(error)") }
        }
    }

    /// The summary with its paths relative to DATA (`data`) instead of the category folder
    /// `root`, where the category lies inside DATA (an MVTec root, or the folder above ELPV's
    /// `data/`).
    static func relative(_ s: FitSummary, root: URL, data: URL) -> FitSummary {
        let r = root.standardizedFileURL.path, d = data.standardizedFileURL.path
        guard r != d, r.hasPrefix(d.hasSuffix("/") ? d : d + "/") else { return s }
        let prefix = String(r.dropFirst(d.count).drop { $0 == "/" }) + "/"
        var out = s
        out.suspects = s.suspects.map { var x = $0; x.path = prefix + x.path; return x }
        out.excluded = s.excluded.map { prefix + $0 }
        return out
    }

    /// The metadata a model records of its fit: nothing for a plain fit.
    static func metadata(_ s: FitSummary) -> [String: String] {
        guard let rule = s.contamination else { return [:] }
        return ["contamination": rule, "excluded": "\(s.excluded.count) of \(s.images) training images"]
    }

    /// Prints the suspects (and what was excluded) and writes `--json FILE` if given.
    static func report(_ s: FitSummary, json: String?) throws {
        if s.suspects.isEmpty {
            try printOutput(String(format: "suspects     none past robust z %.1f of the out-of-fold scores", Suspects.cut))
        } else {
            try printOutput("suspects     \(s.suspects.count) training images look defective (out-of-fold score, robust z, p):")
            for x in s.suspects.prefix(shown) {
                try printOutput(String(format: "  %@  %.4f  z %.1f  p %.2g", x.path, x.score, x.z, x.p))
            }
            if s.suspects.count > shown {
                try printOutput("  ... and \(s.suspects.count - shown) more" + (json == nil ? " (--json FILE lists them all)" : ""))
            }
        }
        if let rule = s.contamination {
            try printOutput("robust fit   --contamination \(rule): excluded \(s.excluded.count) of \(s.images) images, \(s.rounds) rounds; model and threshold on the other \(s.kept)")
        }
        if let json {
            try AtomicFile.write(try s.json(), to: URL(fileURLWithPath: json))
            try printOutput("wrote \(json)")
        }
    }
}
