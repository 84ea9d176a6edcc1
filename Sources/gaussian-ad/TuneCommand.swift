// `gaussian-ad tune`: measures plans of a backbone on this machine and keeps the fastest in the
// tuning file, which every command that runs the network then uses.
import Foundation
import GaussianAD

enum TuneCommand {
    static let help = """
    Usage: gaussian-ad tune [--backbone NAME] [--weights FILE | --formula-weights]
                            [--batch 16] [--threads N] [--seconds 50] [--file PATH]

    Times candidate plans of the network (which blocks are fused and over what bands, Winograd
    or im2col, GEMM blocking, images spread over the threads or each op split over them) at
    the batch size and thread count given, on this machine, and records the fastest in the
    tuning file (default: tuning.json in the cache folder, $GAUSSIAN_AD_HOME or
    ~/.cache/gaussian-ad). Commands that run the network with the same backbone, batch and
    threads on the same machine then use it; without an entry they use the heuristic plan
    derived from the machine's cache sizes. Plans differ only in speed, never in features.
    Tune each batch size you run: score, fit and evaluate use --batch (default 16), classify 1.

      --formula-weights     time the architecture on formula weights (docs/METHOD.md 2.4)
                            instead of a weights file: speed does not depend on the values
      --seconds S           time budget of the search (default 50)
      --file PATH           the tuning file to update

    """ + Options.backboneHelp + Options.limitsHelp

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: ["--backbone", "--weights", "--batch", "--threads", "--seconds", "--file", "--max-image-pixels"],
                            flags: ["-h", "--help", "--formula-weights"])
        if o.has("-h") || o.has("--help") { try printOutput(help); return 0 }
        guard o.positionals.isEmpty else { throw UsageError(description: "unexpected argument '\(o.positionals[0])'\n\n" + help) }
        let kind = try o.backbone()
        let batch = try o.batch()
        let threads = try o.threads() ?? ProcessInfo.processInfo.activeProcessorCount
        let seconds = o.value("--seconds") ?? "50"
        guard let budget = Double(seconds), budget > 0, budget <= 3600 else {
            throw UsageError(description: "--seconds takes a number of seconds from 1 to 3600, got '\(seconds)'")
        }
        let url = o.value("--file").map { URL(fileURLWithPath: $0) } ?? o.cache.tuningFile
        if o.value("--file") != nil { try AtomicFile.checkWritable(url) }
        let checkpoint: Checkpoint, path: String
        if o.has("--formula-weights") {
            guard o.value("--weights") == nil else { throw UsageError(description: "give --weights or --formula-weights, not both") }
            checkpoint = FormulaWeights.checkpoint(kind)
            path = "(formula weights)"
        } else {
            let w = try Backbone.weightsURL(kind, weights: o.value("--weights").map { URL(fileURLWithPath: $0) }, cache: o.cache)
            checkpoint = try Checkpoint.load(contentsOf: w, limits: try o.limits())
            path = w.path
        }
        // Read the file first: a corrupt one is replaced, and says so.
        let (existing, warning) = TuningFile.read(url)
        if let warning { printError(warning) }
        let machine = MachineFacts.current
        try printOutput("machine: \(machine.summary)")
        try printOutput("tuning \(kind.rawValue) at batch \(batch), \(threads) threads (about \(Int(budget)) s)")
        let entry = try Tuner.tune(kind, checkpoint: checkpoint, path: path, batch: batch, threads: threads,
                                   budgetSeconds: budget) { _ = try? printOutput("  " + $0) }  // a failed line fails the closing one
        var file = existing ?? TuningFile()
        file.record(entry)
        try file.write(to: url)
        try printOutput(String(format: "tuned %.1f images/s, heuristic %.1f images/s (%.2fx); written to %@",
                     entry.imagesPerSecond, entry.heuristicImagesPerSecond,
                     entry.imagesPerSecond / max(entry.heuristicImagesPerSecond, 1e-9), url.path))
        return 0
    }
}
