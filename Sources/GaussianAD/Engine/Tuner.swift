// The tuner: times candidate plans of a network on this machine at the batch and thread count
// it will run at and keeps the fastest (FFTW_MEASURE's idea), one knob at a time from the
// heuristic plan (coordinate descent), within a time budget.
import Foundation

/// Measures plans of a network and returns the fastest as a `TuningEntry`.
///
///     let entry = try Tuner.tune(.efficientNetLite0, checkpoint: ckpt, batch: 16, threads: 2) { print($0) }
///     var file = TuningFile.read().file ?? TuningFile()
///     file.record(entry)
///     try file.write()
public enum Tuner {
    /// One knob of the plan: its name and the values worth trying on this machine.
    struct Knob {
        let name: String
        let values: [PlanOptions]
    }

    /// The knobs that matter for `graph` at `batch` x `threads`, each value a variation of `base`.
    static func knobs(_ graph: Graph, base: PlanOptions, machine: MachineFacts, batch: Int, threads: Int) -> [Knob] {
        let l2 = machine.planningL2Bytes
        func vary(_ name: String, _ values: [Int], _ key: WritableKeyPath<PlanOptions, Int>) -> Knob {
            Knob(name: name, values: values.map { var o = base; o[keyPath: key] = $0; return o })
        }
        var knobs: [Knob] = []
        if !ExecutionPlan.fusable(graph, minBytes: 0).isEmpty {
            knobs.append(vary("fuse-min-bytes", [0, l2 / 4, l2 / 2, l2, 2 * l2, PlanOptions.never], \.fuseMinBytes))
            knobs.append(vary("fuse-scratch-bytes", [l2 / 8, l2 / 4, l2 / 8 * 3, l2 / 2, l2 / 4 * 3], \.fuseScratchBytes))
        }
        let hasWinograd = graph.ops.contains { if case .conv(let w, _, _, _, _) = $0 { return WinogradConv.applies(w) }; return false }
        if hasWinograd {
            knobs.append(Knob(name: "winograd", values: [true, false].map { var o = base; o.winograd = $0; return o }))
            knobs.append(vary("winograd-band-bytes", [l2 / 8, l2 / 4, l2 / 2, l2], \.winogradBandBytes))
        }
        knobs.append(vary("im2col-chunk-bytes", [machine.planningL1dBytes, l2 / 8, l2 / 4], \.im2colChunkBytes))
        knobs.append(vary("gemm-panel-budget", [l2 / 4, l2 / 2, l2], \.gemmPanelBudget))
        if threads > 1 && batch >= threads {
            knobs.append(Knob(name: "spread-images", values: [true, false].map { var o = base; o.spreadImages = $0; return o }))
        }
        return knobs
    }

    /// Tunes `kind` over the checkpoint's weights for batches of `batch` images on `threads`
    /// threads, within about `budgetSeconds`; `log` hears one line per knob.
    /// - Throws: the checkpoint's mismatch with the architecture, or `.invalidArgument`.
    public static func tune(_ kind: BackboneKind, checkpoint: Checkpoint, path: String = "(in memory)", batch: Int,
                            threads: Int, budgetSeconds: Double = 50, log: (String) -> Void = { _ in }) throws -> TuningEntry {
        guard batch >= 1, threads >= 1 else { throw GaussianADError.invalidArgument("tune needs a batch and a thread count of at least 1") }
        Kernels.ensureInitialised()
        let machine = MachineFacts.current
        let graph = try Backbone.graph(kind, checkpoint: checkpoint, path: path)
        let S = kind.inputSize
        var rng: UInt64 = 1
        let input = (0..<(batch * S * S * 3)).map { _ -> Float in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: rng >> 11) % 2000) / 1000 - 1
        }
        let deadline = now() + budgetSeconds
        var levels = [Float](repeating: 0, count: batch * graph.levelDims.reduce(0, +))
        /// Images/s of a plan: the best of a few timed batches after a warm-up (the best, not
        /// the median: on a shared machine the fastest run is the one least disturbed).
        func rate(_ options: PlanOptions, minSeconds: Double = 0.4) throws -> Double {
            let engine = try Engine(plan: ExecutionPlan(graph, options: options), threads: threads)
            var best = 0.0, spent = 0.0, runs = 0
            try input.withUnsafeBufferPointer { inp in
                try levels.withUnsafeMutableBufferPointer { lv in
                    guard let i = inp.baseAddress, let l = lv.baseAddress else { throw GaussianADError.invalidArgument("empty batch") }
                    engine.run(count: batch, input: i, levels: l)
                    while runs < 3 || (spent < minSeconds && runs < 50) {
                        let t0 = now()
                        engine.run(count: batch, input: i, levels: l)
                        let dt = now() - t0
                        spent += dt
                        runs += 1
                        best = max(best, Double(batch) / dt)
                    }
                }
            }
            return best
        }
        let heuristic = PlanOptions.heuristic(for: machine)
        var current = heuristic
        var currentRate = try rate(current)
        log(String(format: "heuristic plan: %.1f images/s", currentRate))
        for knob in knobs(graph, base: heuristic, machine: machine, batch: batch, threads: threads) {
            var bestValue = current, bestRate = currentRate
            for candidate in knob.values where now() < deadline {
                var trial = current
                Self.copy(knob.name, from: candidate, into: &trial)
                guard trial != current else { continue }
                let r = try rate(trial)
                if r > bestRate { bestRate = r; bestValue = trial }
            }
            // A change must beat the incumbent by more than the noise of one measurement.
            if bestValue != current && bestRate > currentRate * 1.02 {
                current = bestValue
                currentRate = bestRate
            }
            log(String(format: "%@: %@ (%.1f images/s)", knob.name, Self.describe(knob.name, current), currentRate))
        }
        // The tuned and the heuristic plan once more, alternating, for the record.
        var tunedRates: [Double] = [], heuristicRates: [Double] = []
        for _ in 0..<2 {
            tunedRates.append(try rate(current, minSeconds: 0.2))
            heuristicRates.append(try rate(heuristic, minSeconds: 0.2))
        }
        let tuned = tunedRates.max() ?? 0, base = heuristicRates.max() ?? 0
        if tuned < base { current = heuristic }
        return TuningEntry(machine: machine, backbone: kind.rawValue, inputSize: S, batch: batch, threads: threads,
                           options: current, imagesPerSecond: max(tuned, base), heuristicImagesPerSecond: base)
    }

    /// Sets knob `name` of `into` to its value in `from`.
    static func copy(_ name: String, from: PlanOptions, into: inout PlanOptions) {
        switch name {
        case "fuse-min-bytes": into.fuseMinBytes = from.fuseMinBytes
        case "fuse-scratch-bytes": into.fuseScratchBytes = from.fuseScratchBytes
        case "winograd": into.winograd = from.winograd
        case "winograd-band-bytes": into.winogradBandBytes = from.winogradBandBytes
        case "im2col-chunk-bytes": into.im2colChunkBytes = from.im2colChunkBytes
        case "gemm-panel-budget": into.gemmPanelBudget = from.gemmPanelBudget
        case "spread-images": into.spreadImages = from.spreadImages
        default: break
        }
    }

    /// The value of knob `name` in `o`, for people.
    static func describe(_ name: String, _ o: PlanOptions) -> String {
        func bytes(_ b: Int) -> String { b >= PlanOptions.never ? "never" : b == 0 ? "0 (always)" : MachineFacts.size(b) }
        switch name {
        case "fuse-min-bytes": return bytes(o.fuseMinBytes)
        case "fuse-scratch-bytes": return bytes(o.fuseScratchBytes)
        case "winograd": return o.winograd ? "on" : "off"
        case "winograd-band-bytes": return bytes(o.winogradBandBytes)
        case "im2col-chunk-bytes": return bytes(o.im2colChunkBytes)
        case "gemm-panel-budget": return bytes(o.gemmPanelBudget)
        case "spread-images": return o.spreadImages ? "one image per thread" : "every op split over the threads"
        default: return "?"
        }
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
