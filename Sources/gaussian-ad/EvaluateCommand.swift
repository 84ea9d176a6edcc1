// `gaussian-ad evaluate`: the paper's protocol on a dataset, as a table, JSON and HTML report.
import Foundation
import GaussianAD

enum EvaluateCommand {
    static let help = """
    Usage: gaussian-ad evaluate [DATA] [--backbone NAME] [--weights FILE] [--folds 5] [--seed 0]
                                [--category NAME...] [--levels 0-8] [--pca T | --npca T]
                                [--baselines] [--batch 16] [--json FILE] [--report FILE.html]
                                [--max-memory 1G] [--contamination auto|F]
                                [--maps [--map-grid N|position] [--map-levels 3-5] [--pixel-fpr 0.001]]

    Runs the evaluation protocol of docs/METHOD.md 6 on every category of DATA (an MVTec AD root or
    category, a folder with good/ and one folder per defect type, or the ELPV data folder).
    Without DATA it uses the ELPV data that scripts/setup downloads.
    Prints per category the mean AUROC +- SEM over folds and the per-level AUROCs.
    Features are accumulated, not kept: a category whose features exceed a quarter of --max-memory
    is run through the network again for each pass (two, three with --pca/--npca).

      --maps                every fold also fits the anomaly maps' Gaussians (the --map-* options
                            below, as fit takes them) and every test image gets a map; where the
                            dataset has masks (MVTec layout: ground_truth/TYPE/NAME_mask.png for
                            each anomalous test image) prints pixel AUROC and AUPRO (the
                            per-region overlap integrated to a false-positive rate of 0.3, as
                            MVTec AD's evaluation), each test image's map averaged over the folds
                            that tested it; the report shows the maps over the images
      --contamination R     fit every fold robustly, as `fit --contamination R` does (auto or a
                            fraction F), and list each category's suspects: the training images
                            its robust fit on all of them drops (in the report as thumbnails)

    """ + MapOptions.help.replacingOccurrences(of: "      --no-maps             fit no anomaly maps (score --maps then refuses the model)\n", with: "")
      + Options.backboneHelp + Options.levelsHelp + Options.limitsHelp

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: Set(["--backbone", "--folds", "--seed", "--category", "--levels", "--pca", "--npca",
                                               "--json", "--report", "--batch", "--weights", "--max-image-pixels", "--threads", "--max-memory",
                                               "--contamination"]).union(MapOptions.valued),
                            flags: ["-h", "--help", "--baselines", "--maps"], multi: ["--category"])
        if o.has("-h") || o.has("--help") { try printOutput(help); return 0 }
        guard o.positionals.count <= 1 else { throw UsageError(description: "one DATA folder at most\n\n" + help) }
        let dataURL = o.positionals.first.map { URL(fileURLWithPath: $0) } ?? o.cache.elpvData
        if o.positionals.isEmpty && !FileManager.default.fileExists(atPath: dataURL.path) {
            throw GaussianADError.badDataset(path: dataURL.path, reason: "the default ELPV data is missing; run scripts/setup or give a DATA folder")
        }
        var opts = EvaluationOptions()
        if let f = o.value("--folds") { guard let v = Int(f), v >= 1 else { throw UsageError(description: "--folds takes a positive integer") }; opts.folds = v }
        if let s = o.value("--seed") { guard let v = UInt64(s) else { throw UsageError(description: "--seed takes a non-negative integer") }; opts.seed = v }
        let kind = try o.backbone()
        opts.levels = try o.levels(count: kind.levelDims.count)
        opts.reduction = try reduction(o)
        opts.baselines = o.has("--baselines")
        if let m = o.value("--max-memory") { opts.maxMemory = try InputLimits.parseBytes(m, name: "--max-memory") }
        let limits = try o.limits()
        opts.threads = try o.threads()
        opts.contamination = try FitSummaryOutput.contamination(o)
        if o.has("--maps") {
            opts.maps = try MapOptions.settings(o, kind: kind)
        } else if let v = MapOptions.valued.first(where: { o.value($0) != nil }) {
            throw UsageError(description: "\(v) sets up the anomaly maps: give --maps too")
        }
        try o.checkOutputs([o.value("--json"), o.value("--report")])
        let dataset = try Options.openDataset(dataURL).selecting(o.values["--category"] ?? [])
        for c in dataset.categories { try Evaluation.checkEvaluable(c) }
        let net = try o.loadBackbone(kind, batch: try o.batch(), limits: limits)
        if let m = opts.maps { try MapOptions.checkMemory(m, net: net, folds: max(opts.folds, 1), maxMemory: opts.maxMemory) }
        let fx = FeatureExtractor(backbone: net, batchSize: try o.batch(), limits: limits)
        let bar = ProgressBar()
        let result = try Evaluation.run(dataset: dataset, extractor: fx, options: opts) { bar.update($0, $1, $2) }
        try printOutput(Table.render(result, dataset: dataset, baselines: opts.baselines))
        if let j = o.value("--json") {
            let data = try JSONSerialization.data(withJSONObject: result.jsonObject(), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try AtomicFile.write(data, to: URL(fileURLWithPath: j))
        }
        if let r = o.value("--report") {
            try AtomicFile.write(Data(Report.html(result, dataset: dataset).utf8), to: URL(fileURLWithPath: r))
            try printOutput("report: \(r)")
        }
        return 0
    }

    static func reduction(_ o: Options) throws -> Reduction {
        if o.value("--pca") != nil && o.value("--npca") != nil { throw UsageError(description: "--pca and --npca exclude each other") }
        func t(_ s: String) throws -> Double {
            guard let v = Double(s), v > 0, v < 1 else { throw UsageError(description: "the PCA threshold must be in (0, 1), got \(s)") }
            return v
        }
        if let p = o.value("--pca") { return .pca(try t(p)) }
        if let p = o.value("--npca") { return .npca(try t(p)) }
        return .none
    }
}

/// The plain-text result table.
enum Table {
    static func render(_ r: EvaluationResult, dataset: Dataset, baselines: Bool) -> String {
        var red = ""
        switch r.reduction { case .none: red = ""; case .pca(let t): red = ", PCA \(t)"; case .npca(let t): red = ", NPCA \(t)" }
        var lines = ["\(dataset.kind) \(dataset.root.path)", "backbone \(r.backbone), levels \(r.levels.map(String.init).joined(separator: ","))\(red)", ""]
        var head = "category        normal  anomal   AUROC (mean +- SEM)   per-level AUROC (" + r.levels.map(String.init).joined(separator: " ") + ")"
        if baselines { head += "   L2     SED" }
        lines.append(head)
        for c in r.categories {
            let name = c.name.count >= 14 ? c.name : c.name + String(repeating: " ", count: 14 - c.name.count)
            var l = name + String(format: " %7d %7d   %.4f +- %.4f       ", c.normalCount, c.anomalousCount, c.aurocMean, c.aurocSEM)
            l += c.levelAUROC.map { String(format: "%.3f", $0) }.joined(separator: " ")
            if baselines, let a = c.l2AUROC, let b = c.sedAUROC { l += String(format: "   %.4f %.4f", a, b) }
            lines.append(l)
            if let a = c.pixelAUROC, let p = c.pixelAUPRO {
                lines.append(String(format: "    pixels: AUROC %.4f, AUPRO %.4f (to FPR 0.3)", a, p)
                             + (c.peakHit.map { String(format: ", peak on the defect in %.1f %% of anomalous images", $0 * 100) } ?? ""))
            } else if r.maps != nil {
                lines.append("    pixels: no masks (pixel AUROC and AUPRO need ground_truth/TYPE/NAME_mask.png of every anomalous test image)")
            }
            lines.append("    folds: " + c.aurocFolds.map { String(format: "%.4f", $0) }.joined(separator: " "))
            if let rule = r.contamination {
                lines.append("    robust fit (--contamination \(rule)): \(c.suspects.count) suspects, \(c.excluded.count) training images excluded"
                             + (c.suspects.isEmpty ? "" : "; most suspect: " + c.suspects.prefix(3).map { String(format: "%@ (%.2f)", $0.path, $0.score) }.joined(separator: ", ")))
            }
        }
        var mean = String(format: "mean over %d categories: %.4f", r.categories.count, r.aurocMean)
        if let s = r.aurocSEM { mean += String(format: " +- %.4f (SEM over categories)", s) }
        let px = r.categories.compactMap(\.pixelAUROC), pro = r.categories.compactMap(\.pixelAUPRO)
        if !px.isEmpty { mean += String(format: "; pixel AUROC %.4f, AUPRO %.4f", Summary.mean(px), Summary.mean(pro)) }
        if let m = r.maps { lines.append("anomaly maps: levels \(m.levels.map(String.init).joined(separator: ",")), grid \(m.grid)") }
        lines += ["", mean, String(format: "time %.1f s, %.1f images/s (decode + resize + network)", r.seconds, r.imagesPerSecond)]
        return lines.joined(separator: "\n")
    }
}
