// The tuner: times candidate plans of a network on this machine at the batch and thread count
// it will run at and keeps the fastest (FFTW_MEASURE's idea), one knob at a time from the
// heuristic plan (coordinate descent), within a time budget.
import CKernels
import Foundation

/// Measures plans of a network and returns the fastest as a `TuningEntry`.
///
///     let entry = try Tuner.tune(.efficientNetLite0, checkpoint: ckpt, batch: 16, threads: 2) { print($0) }
///     let url = CacheFolder.standard.tuningFile
///     var file = TuningFile.read(url).file ?? TuningFile()
///     file.record(entry)
///     try file.write(to: url)
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
        if !FusedBlock.fusable(graph, minBytes: 0).isEmpty {
            knobs.append(vary("fuse-min-bytes", [0, l2 / 4, l2 / 2, l2, 2 * l2, PlanOptions.never], \.fuseMinBytes))
            knobs.append(vary("fuse-scratch-bytes", [l2 / 8, l2 / 4, l2 / 8 * 3, l2 / 2, l2 / 4 * 3], \.fuseScratchBytes))
        }
        let hasWinograd = graph.ops.contains { if case .conv(let w, _, _, _, _) = $0 { return WinogradConv.applies(w) }; return false }
        if hasWinograd {
            let winograd = [(true, 4), (true, 2), (false, base.winogradTile)].map { on, tile in
                var o = base; o.winograd = on; o.winogradTile = tile; return o
            }
            knobs.append(Knob(name: "winograd", values: winograd))
            knobs.append(vary("winograd-band-bytes", [l2 / 8, l2 / 4, l2 / 2, l2], \.winogradBandBytes))
        }
        let hasStem = graph.ops.contains { if case .conv(let w, _, _, _, _) = $0 { return Im2colConv.interleaves(w) }; return false }
        if hasStem {
            knobs.append(Knob(name: "interleave-rows", values: [true, false].map { var o = base; o.interleaveRows = $0; return o }))
        }
        knobs.append(vary("im2col-chunk-bytes", [machine.planningL1dBytes, l2 / 8, l2 / 4], \.im2colChunkBytes))
        knobs.append(vary("gemm-panel-budget", [l2 / 4, l2 / 2, l2], \.gemmPanelBudget))
        let l1 = machine.planningL1dBytes
        knobs.append(vary("gemm-prefetch-bytes", [0, l1 / 4, l1 / 2, l1], \.gemmPrefetchBytes))
        if batch >= 2 * threads {
            knobs.append(vary("sub-batch-bytes", [0, l2, 2 * l2, 4 * l2], \.subBatchBytes))
        }
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
        let input = pseudoRandom(batch * S * S * 3, seed: 1)
        let deadline = now() + budgetSeconds
        var levels = [Float](repeating: 0, count: batch * graph.levelDims.reduce(0, +))
        func engine(_ options: PlanOptions) throws -> Engine { try Engine(plan: ExecutionPlan(graph, options: options), threads: threads) }
        /// Seconds of one batch on `e`.
        func time(_ e: Engine) throws -> Double {
            try input.withUnsafeBufferPointer { inp in
                try levels.withUnsafeMutableBufferPointer { lv in
                    guard let i = inp.baseAddress, let l = lv.baseAddress else { throw GaussianADError.invalidArgument("empty batch") }
                    let t0 = now()
                    e.run(count: batch, input: i, levels: l)
                    return now() - t0
                }
            }
        }
        /// The median batch time of each engine over runs that alternate between them: the
        /// alternation shares a shared machine's drifts, and the median is the time a user sees.
        /// (The fastest run would favour plans that are quick only when nothing disturbs them,
        /// such as one image split over the threads, whose threads meet after every op and all
        /// wait for one that was descheduled.)
        func race(_ engines: [Engine], minSeconds: Double = 0.3) throws -> [Double] {
            var runs = [[Double]](repeating: [], count: engines.count)
            for e in engines { _ = try time(e) }
            var spent = 0.0, rounds = 0
            while rounds < 5 || (spent < minSeconds * Double(engines.count) && rounds < 41) {
                for (i, e) in engines.enumerated() {
                    let t = try time(e)
                    spent += t
                    runs[i].append(t)
                }
                rounds += 1
            }
            return runs.map { $0.sorted()[$0.count / 2] }
        }
        func rate(_ seconds: Double) -> Double { Double(batch) / seconds }
        let heuristic = PlanOptions.heuristic(for: machine)
        var current = heuristic
        var incumbent = try engine(current)
        log(String(format: "heuristic plan: %.1f images/s", rate(try race([incumbent])[0])))
        for knob in knobs(graph, base: heuristic, machine: machine, batch: batch, threads: threads) {
            var trials: [PlanOptions] = []
            for candidate in knob.values {
                var trial = current
                Self.copy(knob.name, from: candidate, into: &trial)
                if trial != current && !trials.contains(trial) { trials.append(trial) }
            }
            guard !trials.isEmpty, now() < deadline else { continue }
            let engines = try [incumbent] + trials.map(engine)
            let times = try race(engines)
            // A change must beat the incumbent by more than the noise of a measurement.
            if let i = times.indices.dropFirst().min(by: { times[$0] < times[$1] }), times[i] < times[0] / 1.02 {
                current = trials[i - 1]
                incumbent = engines[i]
            }
            log(String(format: "%@: %@ (%.1f images/s; tried %@)", knob.name, Self.describe(knob.name, current), rate(times.min() ?? 1),
                       zip(trials, times.dropFirst()).map { String(format: "%@ %.1f", Self.describe(knob.name, $0.0), rate($0.1)) }
                           .joined(separator: ", ")))
        }
        // Each GEMM shape of the plan on each micro-kernel of this level, alternating (the
        // product alone, on one thread, with the weights and rows warm in cache).
        if now() < deadline {
            current.gemmKernels = try tuneKernels(ExecutionPlan(graph, options: current), deadline: deadline, log: log)
            if !current.gemmKernels.isEmpty { incumbent = try engine(current) }
        }
        // The tuned and the heuristic plan once more, alternating, for the record.
        let final = try race([incumbent, try engine(heuristic)], minSeconds: 0.5)
        let tuned = rate(final[0]), base = rate(final[1])
        if tuned < base { current = heuristic }
        return TuningEntry(machine: machine, backbone: kind.rawValue, inputSize: S, batch: batch, threads: threads,
                           options: current, imagesPerSecond: max(tuned, base), heuristicImagesPerSecond: base)
    }

    /// For every GEMM shape of `plan` with more than one micro-kernel of the active level, the
    /// kernel that ran it fastest when it beat the heuristic's choice by more than 3 %.
    static func tuneKernels(_ plan: ExecutionPlan, deadline: Double, log: (String) -> Void) throws -> [String: String] {
        var candidates: [UnsafePointer<ck_gemm_ukernel>] = []
        for i in 0..<ck_gemm_ukernel_count() {
            if let u = ck_gemm_ukernel_at(i), u.pointee.isa == ck_active_isa() { candidates.append(u) }
        }
        guard candidates.count > 1 else { return [:] }
        var seen = Set<String>(), chosen: [String: String] = [:], changed = 0
        for gemm in plan.steps.flatMap(\.gemms) {
            let key = PlanOptions.gemmKey(m: gemm.m, k: gemm.k, n: gemm.n)
            guard seen.insert(key).inserted, now() < deadline else { continue }
            // Rows of the product as it runs (bounded: the rate per row does not change past that).
            let m = min(gemm.m, 4096), k = gemm.k, n = gemm.n
            let a = pseudoRandom(m * k, seed: 7), b = pseudoRandom(k * n, seed: 8), bias = pseudoRandom(n, seed: 9)
            var c = [Float](repeating: 0, count: m * n)
            let packed = candidates.map { u -> [Float] in
                var p = [Float](repeating: 0, count: ck_f32_gemm_packed_size(u.pointee.nr, k, n))
                ck_f32_gemm_pack(u.pointee.nr, k, n, b, n, bias, &p)
                return p
            }
            var best = [Double](repeating: .infinity, count: candidates.count)
            let budget = gemm.panelBudget, prefetch = gemm.prefetchBytes
            for round in 0..<8 {
                for (i, u) in candidates.enumerated() {
                    let t0 = now()
                    ck_f32_gemm_run(u, m, n, k, a, k, packed[i], nil, 0, &c, n, CK_ACT_NONE, 0, 1, budget, prefetch)
                    if round > 0 { best[i] = min(best[i], now() - t0) }
                }
            }
            let heuristic = candidates.firstIndex { $0 == gemm.kernel } ?? 0
            if let i = best.indices.min(by: { best[$0] < best[$1] }), i != heuristic, best[i] < best[heuristic] / 1.03 {
                chosen[key] = String(cString: candidates[i].pointee.name)
                changed += 1
            }
        }
        log("gemm kernels: \(changed) of \(seen.count) shapes run faster on another micro-kernel than the heuristic's")
        return chosen
    }

    /// Sets knob `name` of `into` to its value in `from`.
    static func copy(_ name: String, from: PlanOptions, into: inout PlanOptions) {
        switch name {
        case "fuse-min-bytes": into.fuseMinBytes = from.fuseMinBytes
        case "fuse-scratch-bytes": into.fuseScratchBytes = from.fuseScratchBytes
        case "winograd": into.winograd = from.winograd; into.winogradTile = from.winogradTile
        case "winograd-band-bytes": into.winogradBandBytes = from.winogradBandBytes
        case "interleave-rows": into.interleaveRows = from.interleaveRows
        case "im2col-chunk-bytes": into.im2colChunkBytes = from.im2colChunkBytes
        case "gemm-panel-budget": into.gemmPanelBudget = from.gemmPanelBudget
        case "gemm-prefetch-bytes": into.gemmPrefetchBytes = from.gemmPrefetchBytes
        case "spread-images": into.spreadImages = from.spreadImages
        case "sub-batch-bytes": into.subBatchBytes = from.subBatchBytes
        default: break
        }
    }

    /// The value of knob `name` in `o`, for people.
    static func describe(_ name: String, _ o: PlanOptions) -> String {
        func bytes(_ b: Int) -> String { b >= PlanOptions.never ? "never" : b == 0 ? "0 (always)" : MachineFacts.size(b) }
        switch name {
        case "fuse-min-bytes": return bytes(o.fuseMinBytes)
        case "fuse-scratch-bytes": return bytes(o.fuseScratchBytes)
        case "winograd": return o.winograd ? "F(\(o.winogradTile)x\(o.winogradTile), 3x3)" : "off"
        case "winograd-band-bytes": return bytes(o.winogradBandBytes)
        case "interleave-rows": return o.interleaveRows ? "stems from interleaved rows" : "stems by im2col"
        case "im2col-chunk-bytes": return bytes(o.im2colChunkBytes)
        case "gemm-panel-budget": return bytes(o.gemmPanelBudget)
        case "gemm-prefetch-bytes": return o.gemmPrefetchBytes == 0 ? "never" : "panels up to " + MachineFacts.size(o.gemmPrefetchBytes)
        case "spread-images": return o.spreadImages ? "one image per thread" : "every op split over the threads"
        case "sub-batch-bytes": return o.subBatchBytes == 0 ? "off" : MachineFacts.size(o.subBatchBytes)
        default: return "?"
        }
    }

    /// `count` values in [-1, 1) from a linear congruential generator: timing inputs.
    static func pseudoRandom(_ count: Int, seed: UInt64) -> [Float] {
        var rng = seed
        return (0..<count).map { _ in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: rng >> 11) % 2000) / 1000 - 1
        }
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
