// gaussian-ad-bench engine / e2e: network and end-to-end throughput, side by side with the
// onnxruntime peer (../shared/peers/ort_bench.py) when --peer onnxruntime is given.
import CSystemBLAS
import Foundation
import GaussianAD

enum EngineBench {
    /// OpenBLAS SGEMM GFLOP/s on `threads` threads (2048^3, best of 3): the peak the engine's
    /// achieved GFLOP/s is compared with.
    static func sgemmPeak(threads: Int) -> Double {
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        openblas_set_num_threads(Int32(threads))
        var best = 0.0
        for _ in 0..<3 {
            let t0 = now()
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, a, Int32(n), b, Int32(n), 0, &c, Int32(n))
            best = max(best, 2 * pow(Double(n), 3) / (now() - t0) / 1e9)
        }
        return best
    }

    /// Peak resident set of this process so far, MiB.
    static func peakRSSMiB() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }

    /// The peers `--peer` names: onnxruntime, openvino, or all (both).
    static func peers() throws -> [String] {
        switch arg("--peer", "") {
        case "": return []
        case "onnxruntime": return ["onnxruntime"]
        case "openvino": return ["openvino"]
        case "all": return ["onnxruntime", "openvino"]
        case let other: throw GaussianADError.invalidArgument("unknown --peer '\(other)' (onnxruntime, openvino or all)")
        }
    }

    /// Runs peer `name`'s benchmark script (in --peer-dir, default ../shared/peers) with `args`
    /// and returns its images/s (from its --json output).
    static func peer(_ name: String, _ args: [String]) throws -> Double {
        let dir = arg("--peer-dir", "../shared/peers")
        let script = URL(fileURLWithPath: dir).appendingPathComponent(name == "openvino" ? "ov_bench.py" : "ort_bench.py").path
        guard FileManager.default.fileExists(atPath: script) else {
            throw GaussianADError.invalidArgument("peer script \(script) not found (give --peer-dir DIR)")
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("gad-peer-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [ProcessInfo.processInfo.environment["GAUSSIAN_AD_PEER_PYTHON"] ?? "python3", script] + args + ["--json", out.path]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let d = try? Data(contentsOf: out),
              let j = try JSONSerialization.jsonObject(with: d) as? [String: Any], let ips = j["images_per_second"] as? Double else {
            throw GaussianADError.invalidArgument("the \(name) benchmark failed (exit \(p.terminationStatus)); is \(name) installed for GAUSSIAN_AD_PEER_PYTHON?")
        }
        return ips
    }

    /// The machine's facts as benchmark JSON carries them.
    static func machineJSON() -> [String: Any] {
        let m = MachineFacts.current
        return ["model": m.model, "isa": m.isa, "kernels": m.kernels, "l1d_bytes": m.l1dBytes, "l2_bytes": m.l2Bytes,
                "l3_bytes": m.l3Bytes, "cores": m.cores, "summary": m.summary,
                "onednn_max_cpu_isa": ProcessInfo.processInfo.environment["ONEDNN_MAX_CPU_ISA"] ?? NSNull()]
    }

    /// The tuning file's plan for `kind` at `batch` x `threads` (its warning, if any, on
    /// standard error), or nil with `--untuned` or without an entry: the heuristic plan.
    static func plan(_ kind: BackboneKind, batch: Int, threads: Int) -> PlanOptions? {
        let (plan, warning) = TuningFile.options(for: kind, batch: batch, threads: threads, url: cache.tuningFile)
        if let warning { FileHandle.standardError.write((warning + "\n").data(using: .utf8)!) }
        return CommandLine.arguments.contains("--untuned") ? nil : plan
    }

    /// `layers`: one image on one thread, step by step: seconds, share and GFLOP/s.
    static func layers() throws {
        guard let kind = BackboneKind(name: arg("--backbone", "lite0")) else {
            throw GaussianADError.invalidArgument("unknown --backbone (\(BackboneKind.shortNames))")
        }
        let formula = CommandLine.arguments.contains("--formula-weights") || kind.family != .efficientNetLite
        let options = plan(kind, batch: Int(arg("--batch", "16")) ?? 16, threads: Int(arg("--threads", "2")) ?? 2)
        let net = formula ? try Backbone.load(kind, checkpoint: FormulaWeights.checkpoint(kind), weightsSHA256: "formula", threads: 1, plan: options)
                          : try Backbone.load(kind, weights: weightsArgument(), cache: cache, threads: 1, plan: options)
        let steps = net.profileSteps(rounds: Int(arg("--rounds", "7")) ?? 7)
        let total = steps.reduce(0) { $0 + $1.seconds }
        print("machine: \(MachineFacts.current.summary); kernels \(Kernels.activeLevel); plan \(options == nil ? "heuristic" : "tuned")")
        print(String(format: "%@: %.2f ms per image on one thread (%.1f images/s)", kind.rawValue, total * 1e3, 1 / total))
        for (i, s) in steps.enumerated() where s.seconds > total * 0.005 {
            print(String(format: "%3d %6.3f ms %5.1f%% %7.1f GFLOP/s  ", i, s.seconds * 1e3, 100 * s.seconds / total,
                         s.flops > 0 ? Double(s.flops) / s.seconds / 1e9 : 0) + s.label)
        }
    }

    /// `machine`: the facts the planner derives its sizes from, and the heuristic plan.
    static func machine() {
        let m = MachineFacts.current
        print(m.summary)
        let o = PlanOptions.heuristic(for: m)
        print("heuristic plan: fuse blocks from \(MachineFacts.size(o.fuseMinBytes)), fused scratch \(MachineFacts.size(o.fuseScratchBytes)), im2col chunk \(MachineFacts.size(o.im2colChunkBytes)), Winograd band \(MachineFacts.size(o.winogradBandBytes)), GEMM panel budget \(MachineFacts.size(o.gemmPanelBudget)), next panel prefetched up to \(MachineFacts.size(o.gemmPrefetchBytes)), last-stage sub-batches of \(MachineFacts.size(o.subBatchBytes))")
        writeJSON(["machine": machineJSON()])
    }

    /// `--weights FILE`, if given (otherwise the published file name in the cache folder).
    static func weightsArgument() -> URL? {
        let w = arg("--weights", "")
        return w.isEmpty ? nil : URL(fileURLWithPath: w)
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// `engine`: median images/s over rounds after a warm-up; with --peer, pairs alternating.
    static func engine() throws {
        guard let kind = BackboneKind(name: arg("--backbone", "lite0")) else {
            throw GaussianADError.invalidArgument("unknown --backbone (\(BackboneKind.shortNames))")
        }
        let formula = CommandLine.arguments.contains("--formula-weights")
        let batch = Int(arg("--batch", "16")) ?? 16
        let threads = Int(arg("--threads", "2")) ?? 2
        let rounds = Int(arg("--rounds", "9")) ?? 9
        let pairs = Int(arg("--pairs", "3")) ?? 3
        let peerNames = try peers()
        // Formula weights (docs/METHOD.md 2.4) stand in for published weights that are not at
        // hand; the peer then runs the same architecture with the same formula weights.
        let options = plan(kind, batch: batch, threads: threads)
        let net = formula ? try Backbone.load(kind, checkpoint: FormulaWeights.checkpoint(kind), weightsSHA256: "formula", threads: threads, plan: options)
                          : try Backbone.load(kind, weights: weightsArgument(), cache: cache, threads: threads, plan: options)
        let S = kind.inputSize
        var rng = UInt64(1)
        let input = (0..<(batch * S * S * 3)).map { _ -> Float in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: rng >> 11) % 2000) / 1000 - 1
        }
        func measure() throws -> Double {
            _ = try net.run(inputs: input, count: batch)
            var rates: [Double] = []
            for _ in 0..<rounds {
                let t0 = now()
                _ = try net.run(inputs: input, count: batch)
                rates.append(Double(batch) / (now() - t0))
            }
            return median(rates)
        }
        let arch = kind.family == .efficientNetLite ? [] : ["--arch", kind.rawValue]
        if !peerNames.isEmpty && !(formula || arch.isEmpty) {
            throw GaussianADError.invalidArgument("the peers of \(kind.rawValue) run formula weights: add --formula-weights")
        }
        var ours: [Double] = [], theirs: [String: [Double]] = [:], ratios: [String: [Double]] = [:]
        for _ in 0..<(peerNames.isEmpty ? 1 : pairs) {
            let a = try measure()
            ours.append(a)
            for name in peerNames {
                let b = try peer(name, ["--batch", "\(batch)", "--threads", "\(threads)", "--rounds", "\(rounds)"] + arch)
                theirs[name, default: []].append(b)
                ratios[name, default: []].append(a / b)
            }
        }
        // After the runs: OpenBLAS's threads spin about 0.1 s after its SGEMM, on the cores the
        // network's first rounds would have needed.
        let peak = sgemmPeak(threads: threads)
        let ips = median(ours), gflops = ips * Double(net.flopsPerImage) / 1e9
        print("machine: \(MachineFacts.current.summary)")
        print(String(format: "gaussian-ad %@%@  kernels %@  plan %@  batch %d  threads %d  %.1f images/s (median of %d rounds%@)  %.1f GFLOP/s = %.0f%% of SGEMM peak %.1f",
                     kind.rawValue, formula ? " (formula weights)" : "", Kernels.activeLevel, options == nil ? "heuristic" : "tuned",
                     batch, threads, ips, rounds, peerNames.isEmpty ? "" : ", \(pairs) pairs", gflops, 100 * gflops / peak, peak))
        var json: [String: Any] = ["sgemm_peak_gflops": peak, "peak_rss_mib": peakRSSMiB(), "kernels": Kernels.activeLevel,
                                   "machine": machineJSON(), "plan": options == nil ? "heuristic" : "tuned",
                                   "results": [["backbone": kind.rawValue, "batch": batch, "threads": threads,
                                                "images_per_second": ips, "gflops": gflops, "rounds": ours]],
                                   "end_to_end_images_per_second": NSNull()]
        var peerJSON: [[String: Any]] = []
        for name in peerNames {
            let p = median(theirs[name] ?? []), r = median(ratios[name] ?? [])
            print(String(format: "%@  %.1f images/s (median)   ratio %.2fx (median of per-pair ratios: %@)", name, p, r,
                         (ratios[name] ?? []).map { String(format: "%.2f", $0) }.joined(separator: " ")))
            peerJSON.append(["name": name, "images_per_second": p, "ratio": r,
                             "pairs": zip(ours, theirs[name] ?? []).map { [$0, $1] }])
        }
        if !peerJSON.isEmpty { json["peers"] = peerJSON }
        print(String(format: "peak RSS %.0f MiB", peakRSSMiB()))
        writeJSON(json)
    }

    /// `e2e`: evaluate's pipeline (decode, resize, network, statistics) on a dataset, default ELPV.
    static func e2e() throws {
        guard let kind = BackboneKind(name: arg("--backbone", "lite0")) else {
            throw GaussianADError.invalidArgument("unknown --backbone (\(BackboneKind.shortNames))")
        }
        let threads = Int(arg("--threads", "2")) ?? 2
        let batch = Int(arg("--batch", "16")) ?? 16
        let data = arg("--data", cache.elpvData.path)
        let net = try Backbone.load(kind, weights: weightsArgument(), cache: cache, threads: threads,
                                    plan: plan(kind, batch: batch, threads: threads))
        let fx = FeatureExtractor(backbone: net, batchSize: batch)
        var opts = EvaluationOptions()
        opts.threads = threads
        let dataset = try Dataset.open(URL(fileURLWithPath: data))
        let r = try Evaluation.run(dataset: dataset, extractor: fx, options: opts)
        let rss = peakRSSMiB()
        print(String(format: "end to end %@ on %@: %.1f images/s (decode + resize + network), %.1f s in all, peak RSS %.0f MiB, mean AUROC %.4f",
                     kind.rawValue, data, r.imagesPerSecond, r.seconds, rss, r.aurocMean))
        var json: [String: Any] = ["end_to_end_images_per_second": r.imagesPerSecond, "peak_rss_mib": rss, "machine": machineJSON(),
                                   "results": [] as [Any], "threads": threads, "batch": batch]
        var peerJSON: [[String: Any]] = []
        for name in try peers() {
            let images = arg("--images", URL(fileURLWithPath: data).appendingPathComponent("images").path)
            let p = try peer(name, ["--images", images, "--threads", "\(threads)", "--batch", "\(batch)"])
            print(String(format: "%@ (PIL + the peer, --images) %.1f images/s   ratio %.2fx", name, p, r.imagesPerSecond / p))
            peerJSON.append(["name": name, "images_per_second": p, "ratio": r.imagesPerSecond / p])
        }
        if !peerJSON.isEmpty { json["peers"] = peerJSON }
        writeJSON(json)
    }
}
