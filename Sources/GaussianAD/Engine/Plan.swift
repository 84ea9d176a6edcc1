// The planner: compiles a graph once into steps for the kernels — which op runs each layer,
// tensor lifetimes and arena offsets, the sub-batched last stage. The ops with choices of their
// own (fused blocks, Winograd, im2col) are units of their own in Ops/: band sizes, scratch, runs.
import CKernels
import Foundation

/// One compiled op. Tensors are numbers into the plan's offsets (0 is the input image).
enum Step: Sendable {
    /// 1x1 stride-1 convolution without padding: a GEMM over the h * w pixels.
    case pointwise(PackedGemm, pixels: Int, input: Int, residual: Int?, act: ck_act, output: Int)
    /// Any other dense convolution: im2col of a few output rows into scratch, then a GEMM (see `Im2colConv`).
    case conv(Im2colConv)
    case depthwise(geometry: ck_conv2d_geom, weights: FloatStorage, bias: FloatStorage, act: ck_act, input: Int, output: Int)
    /// Squeeze-excitation; `temp` holds the pooled vector, the reduced vector and the gate.
    case squeezeExcite(reduce: PackedGemm, expand: PackedGemm, act: ck_act, pixels: Int, input: Int, output: Int, temp: Int)
    case pool(geometry: ck_conv2d_geom, max: Bool, input: Int, output: Int)
    case add(Int, Int, count: Int, act: ck_act, output: Int)
    /// Global mean into the level row (at `levelOffset`), and the whole map where a run asks
    /// for level `level`'s map.
    case tap(input: Int, pixels: Int, channels: Int, levelOffset: Int, level: Int)
    case classifier(PackedGemm, input: Int, pixels: Int, temp: Int)
    /// An inverted-residual block fused over bands of output rows (see `FusedBlock`).
    case fused(FusedBlock)
    /// A 3x3 stride-1 convolution by Winograd F(2x2, 3x3) or F(4x4, 3x3) (see `WinogradConv`).
    case winograd(WinogradConv)
}

extension Step {
    /// The GEMMs the step runs.
    var gemms: [PackedGemm] {
        switch self {
        case .pointwise(let p, _, _, _, _, _), .classifier(let p, _, _, _): return [p]
        case .conv(let c): return [c.gemm]
        case .squeezeExcite(let r, let e, _, _, _, _, _): return [r, e]
        case .fused(let f): return [f.expand, f.project].compactMap { $0 }
        case .winograd(let w): return Array(w.gemms.prefix(1))
        default: return []
        }
    }

    /// What the step is, for people: op, shapes and the micro-kernel it runs.
    var label: String {
        func g(_ geom: ck_conv2d_geom) -> String {
            "\(geom.in_h)x\(geom.in_w)x\(geom.channels) k\(geom.kernel)s\(geom.stride)"
        }
        func uk(_ p: PackedGemm) -> String { String(cString: p.kernel.pointee.name).replacingOccurrences(of: "ck_f32_gemm_ukernel_", with: "") }
        switch self {
        case .pointwise(let p, let pixels, _, let r, _, _): return "pointwise \(pixels)x\(p.k)->\(p.n)\(r == nil ? "" : " +res") [\(uk(p))]"
        case .conv(let c): return "conv \(g(c.geometry))->\(c.gemm.n) [\(uk(c.gemm))]"
        case .depthwise(let geom, _, _, _, _, _): return "depthwise \(g(geom))"
        case .squeezeExcite(let r, _, _, let pixels, _, _, _): return "squeeze-excite \(pixels)x\(r.k)"
        case .pool(let geom, let isMax, _, _): return "\(isMax ? "max" : "avg") pool \(g(geom))"
        case .add(_, _, let count, _, _): return "add \(count)"
        case .tap(_, let pixels, let channels, _, _): return "tap \(pixels)x\(channels)"
        case .classifier(let p, _, _, _): return "classifier \(p.k)->\(p.n)"
        case .fused(let f):
            let e = f.expand.map { "expand \($0.k)->\($0.n) [\(uk($0))] + " } ?? ""
            let pr = f.project.map { " + project ->\($0.n) [\(uk($0))]" } ?? ""
            return "fused \(e)dw \(g(f.geometry))\(pr), bands of \(f.bandRows)"
        case .winograd(let w): return "winograd F(\(w.tile)x\(w.tile), 3x3) \(g(w.geometry))->\(w.cout) [\(uk(w.gemms[0]))], bands of \(w.bandRows)"
        }
    }

    /// Floating-point operations of the step on one image (multiply-adds count two).
    var flops: Int {
        func dw(_ geom: ck_conv2d_geom) -> Int { 2 * geom.out_h * geom.out_w * geom.channels * geom.kernel * geom.kernel }
        switch self {
        case .pointwise(let p, let pixels, _, _, _, _): return 2 * pixels * p.k * p.n
        case .conv(let c): return 2 * c.geometry.out_h * c.geometry.out_w * c.gemm.k * c.gemm.n
        case .depthwise(let geom, _, _, _, _, _): return dw(geom)
        case .fused(let f):
            let px = f.geometry.out_h * f.geometry.out_w, inPx = f.geometry.in_h * f.geometry.in_w
            return (f.expand.map { 2 * inPx * $0.k * $0.n } ?? 0) + dw(f.geometry) + (f.project.map { 2 * px * $0.k * $0.n } ?? 0)
        case .winograd(let w): return 2 * w.geometry.out_h * w.geometry.out_w * 9 * w.geometry.channels * w.cout
        default: return 0
        }
    }
}

/// A graph compiled for the kernels: steps, one image's arena layout, scratch per thread.
final class ExecutionPlan: Sendable {
    let steps: [Step]
    let shapes: [TensorShape]
    /// Arena offset (floats) of every tensor; -1 for the input image, which lives outside.
    let offsets: [Int]
    /// Floats of one image's arena (all intermediate tensors, reused as lifetimes end).
    let arenaFloats: Int
    /// Floats of scratch a thread needs (im2col rows).
    let scratchFloats: Int
    let levelDims: [Int]
    let levelOffsets: [Int]
    /// Shape of each level's map (what a run that asks for maps gets).
    let levelShapes: [TensorShape]
    let classes: Int
    /// Floating-point operations per image.
    let flops: Int
    /// Sub-batches (`PlanOptions.subBatchBytes`): steps from `groupStart` on run once for up to
    /// `groupImages` images of a thread, their tensors side by side in a group arena of
    /// `groupArenaFloats` floats (tensor t of the group's image j at `groupOffsets[t] + j *
    /// shapes[t].count`), the `boundary` tensors copied there from each image's arena first.
    /// `groupImages` is 1 (and `groupStart` the step count) when the plan has no sub-batches.
    let groupStart: Int, groupImages: Int
    let groupOffsets: [Int], boundary: [Int]
    let groupArenaFloats: Int

    /// The choices it was compiled with.
    let options: PlanOptions

    var featureDim: Int { levelDims.reduce(0, +) }
    var inputShape: TensorShape { shapes[0] }

    /// Compiles `graph` with `options` (which blocks are fused, band and chunk sizes, Winograd
    /// or im2col for 3x3 stride-1 convolutions); tests run several.
    init(_ graph: Graph, options: PlanOptions = .heuristic(for: .current)) {
        self.options = options
        shapes = graph.shapes
        levelDims = graph.levelDims
        levelOffsets = startOffsets(graph.levelDims)
        levelShapes = graph.levelShapes
        classes = graph.classes
        flops = graph.flops
        // Lifetimes: the op that makes each tensor and the last op that reads it.
        var lastUse = [Int](repeating: -1, count: shapes.count)
        for (i, op) in graph.ops.enumerated() { for t in op.inputs { lastUse[t] = i } }
        var allocator = ArenaAllocator()
        var offsets = [Int](repeating: -1, count: shapes.count)
        var steps: [Step] = []
        var scratch = 0
        let fused = FusedBlock.fusable(graph, minBytes: options.fuseMinBytes)
        var skipUntil = -1
        var stepOps: [ClosedRange<Int>] = []
        func geometry(_ s: TensorShape, _ o: TensorShape, kernel: Int, stride: Int, padding: Padding) -> ck_conv2d_geom {
            ck_conv2d_geom(in_h: s.h, in_w: s.w, channels: s.c, kernel: kernel, stride: stride,
                           pad_top: padding.top, pad_left: padding.left, out_h: o.h, out_w: o.w)
        }
        for (i, op) in graph.ops.enumerated() {
            if i <= skipUntil { continue }
            if let f = fused[i] {
                let block = FusedBlock.fuse(graph, f, options: options)
                scratch = max(scratch, block.scratchFloats)
                offsets[block.output] = allocator.allocate(shapes[block.output].count)
                steps.append(.fused(block))
                let last = f.project ?? f.dw
                stepOps.append(i...last)
                for j in i...last {
                    for t in graph.ops[j].inputs where t != 0 && lastUse[t] == j && offsets[t] >= 0 {
                        allocator.free(offsets[t], shapes[t].count)
                    }
                }
                skipUntil = last
                continue
            }
            var temps: [(offset: Int, size: Int)] = []
            func temp(_ floats: Int) -> Int {
                let off = allocator.allocate(floats)
                temps.append((off, floats))
                return off
            }
            if let o = op.output { offsets[o] = allocator.allocate(shapes[o].count) }
            stepOps.append(i...i)
            switch op {
            case .conv(let w, let x, let r, let act, let o):
                if w.kernel == 1 && w.stride == 1 && w.padding == Padding() {
                    let packed = PackedGemm(m: shapes[o].h * shapes[o].w, k: w.cin, n: w.cout, weights: w.weights, bias: w.bias,
                                            options: options)
                    steps.append(.pointwise(packed, pixels: shapes[o].count / w.cout, input: x, residual: r, act: act.kernel, output: o))
                } else if options.winograd && WinogradConv.applies(w) {
                    let wc = WinogradConv(w, geometry: geometry(shapes[x], shapes[o], kernel: 3, stride: 1, padding: w.padding),
                                          input: x, residual: r, act: act.kernel, output: o, options: options)
                    scratch = max(scratch, wc.scratchFloats)
                    steps.append(.winograd(wc))
                } else {
                    let ic = Im2colConv(w, geometry: geometry(shapes[x], shapes[o], kernel: w.kernel, stride: w.stride, padding: w.padding),
                                        input: x, residual: r, act: act.kernel, output: o, options: options)
                    scratch = max(scratch, ic.scratchFloats)
                    steps.append(.conv(ic))
                }
            case .depthwise(let w, let x, let act, let o):
                let g = geometry(shapes[x], shapes[o], kernel: w.kernel, stride: w.stride, padding: w.padding)
                steps.append(.depthwise(geometry: g, weights: FloatStorage(w.weights), bias: FloatStorage(w.bias),
                                        act: act.kernel, input: x, output: o))
            case .squeezeExcite(let se, let x, let o):
                let reduce = PackedGemm(m: 1, k: se.channels, n: se.reduced, weights: se.reduceWeights, bias: se.reduceBias,
                                        options: options)
                let expand = PackedGemm(m: 1, k: se.reduced, n: se.channels, weights: se.expandWeights, bias: se.expandBias,
                                        options: options)
                steps.append(.squeezeExcite(reduce: reduce, expand: expand, act: se.activation.kernel,
                                            pixels: shapes[x].h * shapes[x].w, input: x, output: o,
                                            temp: temp(2 * se.channels + se.reduced)))
            case .pool(let p, let x, let o):
                steps.append(.pool(geometry: geometry(shapes[x], shapes[o], kernel: p.kernel, stride: p.stride, padding: p.padding),
                                   max: p.kind == .max, input: x, output: o))
            case .add(let a, let b, let act, let o):
                steps.append(.add(a, b, count: shapes[o].count, act: act.kernel, output: o))
            case .tap(let level, let x):
                steps.append(.tap(input: x, pixels: shapes[x].h * shapes[x].w, channels: shapes[x].c,
                                  levelOffset: levelOffsets[level], level: level))
            case .classifier(let x, let w, let b, let classes):
                let packed = PackedGemm(m: 1, k: shapes[x].c, n: classes, weights: w, bias: b, options: options)
                steps.append(.classifier(packed, input: x, pixels: shapes[x].h * shapes[x].w, temp: temp(shapes[x].c)))
            }
            for t in op.inputs where t != 0 && lastUse[t] == i { allocator.free(offsets[t], shapes[t].count) }
            for t in temps { allocator.free(t.offset, t.size) }
            if let o = op.output, lastUse[o] < 0 { allocator.free(offsets[o], shapes[o].count) }
        }
        self.steps = steps
        self.offsets = offsets
        arenaFloats = allocator.peak
        let group = Self.group(graph, steps: steps, stepOps: stepOps, lastUse: lastUse, options: options)
        (groupStart, groupImages, groupOffsets, boundary, groupArenaFloats) =
            (group.start, group.images, group.offsets, group.boundary, group.arenaFloats)
        scratchFloats = max(scratch, group.scratchFloats)
    }

    /// The sub-batched last stage: the longest tail of steps all of whose tensors have no more
    /// pixels than the network's smallest map (and none is the input), when it holds a GEMM;
    /// as many images as `subBatchBytes` holds of its largest tensor (at most 8); the group
    /// arena laid out by lifetime with every tensor `images` times over; the scratch its
    /// Winograd bands need for all images at once.
    static func group(_ graph: Graph, steps: [Step], stepOps: [ClosedRange<Int>], lastUse: [Int], options: PlanOptions)
        -> (start: Int, images: Int, offsets: [Int], boundary: [Int], arenaFloats: Int, scratchFloats: Int) {
        let shapes = graph.shapes
        let none = (steps.count, 1, [Int](repeating: -1, count: shapes.count), [Int](), 0, 0)
        guard options.subBatchBytes > 0, options.spreadImages, !steps.isEmpty else { return none }
        func pixels(_ t: Int) -> Int { shapes[t].h * shapes[t].w }
        func tensors(_ ops: ClosedRange<Int>) -> [Int] {
            ops.flatMap { graph.ops[$0].inputs + (graph.ops[$0].output.map { [$0] } ?? []) }
        }
        let smallest = graph.ops.compactMap(\.output).map(pixels).min() ?? 0
        var start = steps.count
        while start > 0, tensors(stepOps[start - 1]).allSatisfy({ $0 != 0 && pixels($0) <= smallest }) { start -= 1 }
        let tail = start..<steps.count
        guard tail.contains(where: { !steps[$0].gemms.isEmpty && steps[$0].flops > 0 }) else { return none }
        let largest = tail.flatMap { tensors(stepOps[$0]) }.map { shapes[$0].count * 4 }.max() ?? 1
        let images = min(8, options.subBatchBytes / max(largest, 1))
        guard images >= 2 else { return none }
        // Tensors made before the stage and read in it come over from each image's arena.
        var made = Set<Int>()
        for ops in stepOps[..<start] { for i in ops { if let o = graph.ops[i].output { made.insert(o) } } }
        var boundary: [Int] = []
        for i in tail { for t in tensors(stepOps[i]) where made.contains(t) && !boundary.contains(t) { boundary.append(t) } }
        var allocator = ArenaAllocator()
        var offsets = [Int](repeating: -1, count: shapes.count)
        for t in boundary { offsets[t] = allocator.allocate(images * shapes[t].count) }
        for ops in stepOps[start...] {
            for i in ops { if let o = graph.ops[i].output, offsets[o] < 0 { offsets[o] = allocator.allocate(images * shapes[o].count) } }
            for i in ops {
                for t in graph.ops[i].inputs where lastUse[t] == i && offsets[t] >= 0 { allocator.free(offsets[t], 0) }
                if let o = graph.ops[i].output, lastUse[o] < 0 { allocator.free(offsets[o], 0) }
            }
        }
        var scratch = 0
        for i in tail { if case .winograd(let wc) = steps[i] { scratch = max(scratch, images * wc.scratchFloats) } }
        return (start, images, offsets, boundary, allocator.peak, scratch)
    }
}

/// First-fit placement of tensors in an arena by lifetime; offsets aligned to 64 bytes.
struct ArenaAllocator {
    private var live: [(offset: Int, size: Int)] = []
    private(set) var peak = 0

    private static func aligned(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    mutating func allocate(_ floats: Int) -> Int {
        let size = Self.aligned(max(floats, 1))
        var at = 0
        for block in live.sorted(by: { $0.offset < $1.offset }) {
            if block.offset - at >= size { break }
            at = max(at, block.offset + block.size)
        }
        live.append((at, size))
        peak = max(peak, at + size)
        return at
    }

    mutating func free(_ offset: Int, _ floats: Int) {
        if let i = live.firstIndex(where: { $0.offset == offset }) { live.remove(at: i) }
    }
}
