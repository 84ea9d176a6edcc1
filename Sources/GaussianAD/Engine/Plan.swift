// The planner: compiles a graph once into steps for the kernels — shapes, tensor lifetimes and
// arena offsets, scratch sizes, and weights repacked for the chosen micro-kernels.
import CKernels
import Foundation

/// Floats owned by a plan, 64-byte aligned; written only while the plan is built, read-only after.
final class FloatStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    /// `count` floats, zeroed, or left as the allocator gives them when `zeroed` is false
    /// (workspaces that every step writes before it reads).
    init(count: Int, zeroed: Bool = true) {
        self.count = max(count, 1)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: self.count * 4, alignment: 64)
        pointer = zeroed ? raw.initializeMemory(as: Float.self, repeating: 0, count: self.count)
                         : raw.bindMemory(to: Float.self, capacity: self.count)
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { v in
            if let base = v.baseAddress { pointer.update(from: base, count: v.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}

/// Weights packed for one GEMM micro-kernel.
struct PackedGemm: @unchecked Sendable {
    /// The registered micro-kernel (a static C table entry: never freed, never written).
    let kernel: UnsafePointer<ck_gemm_ukernel>
    let weights: FloatStorage
    /// The rows it was planned for (its key in `PlanOptions.gemmKernels`), inner size, columns.
    let m: Int, k: Int, n: Int
    /// Bytes of packed weights a thread keeps in cache (PlanOptions.gemmPanelBudget).
    let panelBudget: Int
    /// Panels of at most this many bytes prefetch the next (PlanOptions.gemmPrefetchBytes).
    let prefetchBytes: Int

    /// Packs `weights` ([k][n]) and `bias` (n) for the micro-kernel the options name for this
    /// shape (a tuned plan), else the heuristic's choice for products of about `m` rows (the
    /// layer's pixels) and n columns.
    init(m: Int, k: Int, n: Int, weights w: [Float], bias: [Float]?, options: PlanOptions) {
        kernel = options.gemmKernels[PlanOptions.gemmKey(m: m, k: k, n: n)].flatMap(PackedGemm.kernel(named:))
            ?? ck_gemm_ukernel_for(CK_ISA_AVX512, m, n)
        self.m = m
        self.k = k
        self.n = n
        self.panelBudget = options.gemmPanelBudget
        self.prefetchBytes = options.gemmPrefetchBytes
        weights = FloatStorage(count: ck_f32_gemm_packed_size(kernel.pointee.nr, k, n))
        w.withUnsafeBufferPointer { wp in
            if let b = bias {
                b.withUnsafeBufferPointer { ck_f32_gemm_pack(kernel.pointee.nr, k, n, wp.baseAddress, n, $0.baseAddress, weights.pointer) }
            } else {
                ck_f32_gemm_pack(kernel.pointee.nr, k, n, wp.baseAddress, n, nil, weights.pointer)
            }
        }
    }

    /// The registered micro-kernel of that name, if the dispatch table's level can run it.
    static func kernel(named name: String) -> UnsafePointer<ck_gemm_ukernel>? {
        for i in 0..<ck_gemm_ukernel_count() {
            guard let u = ck_gemm_ukernel_at(i) else { continue }
            if String(cString: u.pointee.name) == name && u.pointee.isa.rawValue <= ck_active_isa().rawValue { return u }
        }
        return nil
    }

    /// Rows [ith-share] of c (m x n) = act(a (m x k) * W + bias + residual).
    @inline(__always)
    func run(m: Int, a: UnsafePointer<Float>, residual: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>,
             act: ck_act, ith: Int, nth: Int) {
        ck_f32_gemm_run(kernel, m, n, k, a, k, weights.pointer, residual, n, c, n, act, ith, nth, panelBudget, prefetchBytes)
    }
}

/// One compiled op. Tensors are numbers into the plan's offsets (0 is the input image).
enum Step: Sendable {
    /// 1x1 stride-1 convolution without padding: a GEMM over the h * w pixels.
    case pointwise(PackedGemm, pixels: Int, input: Int, residual: Int?, act: ck_act, output: Int)
    /// Any other dense convolution: im2col of a few output rows into scratch, then a GEMM.
    case conv(PackedGemm, geometry: ck_conv2d_geom, chunkRows: Int, input: Int, residual: Int?, act: ck_act, output: Int)
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
        case .pointwise(let p, _, _, _, _, _), .conv(let p, _, _, _, _, _, _), .classifier(let p, _, _, _): return [p]
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
        case .conv(let p, let geom, _, _, _, _, _): return "conv \(g(geom))->\(p.n) [\(uk(p))]"
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
        case .conv(let p, let geom, _, _, _, _, _): return 2 * geom.out_h * geom.out_w * p.k * p.n
        case .depthwise(let geom, _, _, _, _, _): return dw(geom)
        case .fused(let f):
            let px = f.geometry.out_h * f.geometry.out_w, inPx = f.geometry.in_h * f.geometry.in_w
            return (f.expand.map { 2 * inPx * $0.k * $0.n } ?? 0) + dw(f.geometry) + (f.project.map { 2 * px * $0.k * $0.n } ?? 0)
        case .winograd(let w): return 2 * w.geometry.out_h * w.geometry.out_w * 9 * w.geometry.channels * w.cout
        default: return 0
        }
    }
}

/// A 3x3 stride-1 convolution as Winograd F(2x2, 3x3) or F(4x4, 3x3) (`tile`, the output tile's
/// side), a band of `bandRows` tile rows at a time: the input transform (`matrices` matrices of
/// tiles x cin) and the GEMM results (tiles x cout) live in scratch; the output transform adds
/// bias, residual and activation.
struct WinogradConv: Sendable {
    /// The transformed weight matrices (cin x cout, no bias), packed, one per product of a tile.
    let gemms: [PackedGemm]
    let bias: FloatStorage
    let geometry: ck_conv2d_geom
    let cout: Int
    let act: ck_act
    let input: Int, residual: Int?, output: Int
    let bandRows: Int
    /// The side of an output tile: 2 (F(2x2, 3x3), 16 products) or 4 (F(4x4, 3x3), 36).
    let tile: Int

    /// Whether a convolution is done this way: 3x3, stride 1, wide enough that the GEMMs
    /// dominate the transforms.
    static func applies(_ w: ConvWeights) -> Bool {
        w.kernel == 3 && w.stride == 1 && w.cin >= 16 && w.cout >= 16
    }

    init(_ w: ConvWeights, geometry g: ck_conv2d_geom, input: Int, residual: Int?, act: ck_act, output: Int,
         options: PlanOptions) {
        // F(4x4, 3x3) needs three whole tiles across a map: on a 7 x 7 map its 36 products of
        // 4 tiles an image read more weights than they save multiplies.
        let tile = options.winogradTile == 4 && min(g.out_h, g.out_w) >= Self.minSideF43 ? 4 : 2
        self.tile = tile
        geometry = g
        let matrices = (tile + 2) * (tile + 2)
        // Every band reads all of the transformed weights: a band's scratch may grow to their
        // size (at most 8 budgets), so that large weights on small maps are read once or twice
        // an image rather than once per tile row.
        let perTileRow = matrices * Self.tiles(tile, g.out_w) * (w.cin + w.cout)
        let budget = max(options.winogradBandBytes, min(matrices * w.cin * w.cout * 4, 8 * options.winogradBandBytes))
        bandRows = max(1, min(Self.tiles(tile, g.out_h), budget / 4 / max(perTileRow, 1)))
        var u = [Float](repeating: 0, count: matrices * w.cin * w.cout)
        w.weights.withUnsafeBufferPointer { wp in
            u.withUnsafeMutableBufferPointer {
                if tile == 4 { ck_f32_winograd43_weights(w.cin, w.cout, wp.baseAddress, $0.baseAddress) }
                else { ck_f32_winograd23_weights(w.cin, w.cout, wp.baseAddress, $0.baseAddress) }
            }
        }
        let m = bandRows * Self.tiles(tile, g.out_w), each = w.cin * w.cout
        gemms = (0..<matrices).map {
            PackedGemm(m: m, k: w.cin, n: w.cout, weights: Array(u[($0 * each)..<(($0 + 1) * each)]), bias: nil,
                       options: options)
        }
        bias = FloatStorage(w.bias)
        cout = w.cout
        self.act = act
        self.input = input
        self.residual = residual
        self.output = output
    }

    /// The smallest output side F(4x4, 3x3) is used for.
    static let minSideF43 = 12

    /// Tiles of side `tile` along an output side of `pixels`.
    private static func tiles(_ tile: Int, _ pixels: Int) -> Int { (pixels + tile - 1) / tile }

    /// The products of a tile: 16 or 36.
    var matrices: Int { gemms.count }
    /// Tile rows and tile columns of the output.
    var tilesH: Int { Self.tiles(tile, geometry.out_h) }
    var tilesW: Int { Self.tiles(tile, geometry.out_w) }

    /// The input transform of tile rows [ty0, ty1) of the image at `x` (see ck_f32_winograd23_input).
    func transformInput(_ x: UnsafePointer<Float>, _ ty0: Int, _ ty1: Int, into v: UnsafeMutablePointer<Float>, ld: Int) {
        var g = geometry
        if tile == 4 { ck_f32_winograd43_input(&g, x, ty0, ty1, v, ld) } else { ck_f32_winograd23_input(&g, x, ty0, ty1, v, ld) }
    }

    /// The output transform of tile rows [ty0, ty1) into the image at `out` (see ck_f32_winograd23_output).
    func transformOutput(_ m: UnsafePointer<Float>, ld: Int, _ ty0: Int, _ ty1: Int, residual r: UnsafePointer<Float>?,
                         into out: UnsafeMutablePointer<Float>) {
        var g = geometry
        if tile == 4 {
            ck_f32_winograd43_output(&g, cout, m, ld, ty0, ty1, bias.pointer, r, out, act)
        } else {
            ck_f32_winograd23_output(&g, cout, m, ld, ty0, ty1, bias.pointer, r, out, act)
        }
    }

    /// Scratch floats: one band's transformed input and GEMM results.
    var scratchFloats: Int { matrices * bandRows * tilesW * (geometry.channels + cout) }
}

/// 1x1 expand (optional) -> depthwise -> 1x1 project (+ residual), computed a band of output
/// rows at a time: the expanded rows live in a ring of `ringRows` rows and the depthwise band in
/// `bandRows` rows of scratch, so the expanded tensor never leaves the core's cache. Without a
/// projection (a squeeze-excitation follows the depthwise, which needs all of its output), the
/// depthwise writes its rows straight into `output`: only the expansion stays in cache.
struct FusedBlock: Sendable {
    let expand: PackedGemm?
    let expandAct: ck_act
    let geometry: ck_conv2d_geom
    let dwWeights: FloatStorage, dwBias: FloatStorage
    let dwAct: ck_act
    let project: PackedGemm?
    let projectAct: ck_act
    let input: Int, residual: Int?, output: Int
    let bandRows: Int, ringRows: Int

    /// Scratch floats: the ring and the depthwise band.
    var scratchFloats: Int {
        let c = geometry.channels
        return (expand == nil ? 0 : ringRows * geometry.in_w * c) + (project == nil ? 0 : bandRows * geometry.out_w * c)
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

    /// Fusable inverted-residual blocks: op index of the first op -> (expand?, depthwise,
    /// project?). Without a projection (the depthwise feeds a squeeze-excitation) only an
    /// expansion is worth fusing.
    static func fusable(_ graph: Graph, minBytes: Int) -> [Int: (expand: Int?, dw: Int, project: Int?)] {
        var consumers = [Int](repeating: 0, count: graph.shapes.count)
        for op in graph.ops { for t in op.inputs { consumers[t] += 1 } }
        func pointwise(_ i: Int) -> (ConvWeights, input: Int, residual: Int?, output: Int)? {
            guard i >= 0, i < graph.ops.count, case .conv(let w, let x, let r, _, let o) = graph.ops[i],
                  w.kernel == 1, w.stride == 1, w.padding == Padding() else { return nil }
            return (w, x, r, o)
        }
        var out: [Int: (Int?, Int, Int?)] = [:]
        for (i, op) in graph.ops.enumerated() {
            guard case .depthwise(_, let x, _, let d) = op, consumers[d] == 1 else { continue }
            let project: Int?
            if let proj = pointwise(i + 1), proj.input == d {
                project = i + 1
            } else if i + 1 < graph.ops.count, case .squeezeExcite(_, let seIn, _) = graph.ops[i + 1], seIn == d {
                project = nil
            } else {
                continue
            }
            let expanded = graph.shapes[x].count * 4
            guard expanded >= minBytes else { continue }
            if let e = pointwise(i - 1), e.output == x, e.residual == nil, consumers[x] == 1, out[i - 2] == nil {
                out[i - 1] = (i - 1, i, project)
            } else if project != nil {
                out[i] = (nil, i, project)
            }
        }
        return out
    }

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
        let fused = Self.fusable(graph, minBytes: options.fuseMinBytes)
        var skipUntil = -1
        var stepOps: [ClosedRange<Int>] = []
        func geometry(_ s: TensorShape, _ o: TensorShape, kernel: Int, stride: Int, padding: Padding) -> ck_conv2d_geom {
            ck_conv2d_geom(in_h: s.h, in_w: s.w, channels: s.c, kernel: kernel, stride: stride,
                           pad_top: padding.top, pad_left: padding.left, out_h: o.h, out_w: o.w)
        }
        for (i, op) in graph.ops.enumerated() {
            if i <= skipUntil { continue }
            if let f = fused[i] {
                let block = Self.fuse(graph, f, options: options)
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
                let packed = PackedGemm(m: shapes[o].h * shapes[o].w, k: w.kernel * w.kernel * w.cin, n: w.cout,
                                        weights: w.weights, bias: w.bias, options: options)
                if w.kernel == 1 && w.stride == 1 && w.padding == Padding() {
                    steps.append(.pointwise(packed, pixels: shapes[o].count / w.cout, input: x, residual: r, act: act.kernel, output: o))
                } else if options.winograd && WinogradConv.applies(w) {
                    let wc = WinogradConv(w, geometry: geometry(shapes[x], shapes[o], kernel: 3, stride: 1, padding: w.padding),
                                          input: x, residual: r, act: act.kernel, output: o, options: options)
                    scratch = max(scratch, wc.scratchFloats)
                    steps.append(.winograd(wc))
                } else {
                    let g = geometry(shapes[x], shapes[o], kernel: w.kernel, stride: w.stride, padding: w.padding)
                    // Output rows per im2col chunk: as many as the chunk size holds, but at
                    // least enough for 16 row tiles of GEMM, so that large weights (a strided
                    // 3x3 or 1x1 convolution deep in a ResNet: 1-9 MB) are not streamed from
                    // memory for every 7 or 14 rows.
                    let rowFloats = shapes[o].w * packed.k
                    let reuseRows = (16 * Int(packed.kernel.pointee.mr) + shapes[o].w - 1) / max(shapes[o].w, 1)
                    let rows = max(1, min(shapes[o].h, max(options.im2colChunkBytes / 4 / max(rowFloats, 1), reuseRows)))
                    scratch = max(scratch, rows * rowFloats)
                    steps.append(.conv(packed, geometry: g, chunkRows: rows, input: x, residual: r, act: act.kernel, output: o))
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

extension ExecutionPlan {
    /// The fused step of an inverted-residual block, with the largest band that fits the budget.
    static func fuse(_ graph: Graph, _ f: (expand: Int?, dw: Int, project: Int?), options: PlanOptions) -> FusedBlock {
        guard case .depthwise(let dw, let dIn, let dwAct, let dOut) = graph.ops[f.dw] else {
            preconditionFailure("fusable() matched only a depthwise")
        }
        var project: ConvWeights? = nil, residual: Int? = nil, projectAct = CK_ACT_NONE, out = dOut
        if let p = f.project, case .conv(let pw, _, let r, let pa, let o) = graph.ops[p] {
            project = pw
            residual = r
            projectAct = pa.kernel
            out = o
        }
        var expand: PackedGemm? = nil
        var expandAct = CK_ACT_NONE
        var input = dIn
        if let e = f.expand, case .conv(let ew, let x, _, let ea, _) = graph.ops[e] {
            expand = PackedGemm(m: graph.shapes[x].h * graph.shapes[x].w, k: ew.cin, n: ew.cout, weights: ew.weights,
                                bias: ew.bias, options: options)
            expandAct = ea.kernel
            input = x
        }
        let si = graph.shapes[dIn], so = graph.shapes[dOut]
        let geom = ck_conv2d_geom(in_h: si.h, in_w: si.w, channels: si.c, kernel: dw.kernel, stride: dw.stride,
                                  pad_top: dw.padding.top, pad_left: dw.padding.left, out_h: so.h, out_w: so.w)
        var band = 1
        func floats(_ b: Int) -> Int {
            (expand == nil ? 0 : ((b - 1) * dw.stride + dw.kernel) * si.w * si.c) + (project == nil ? 0 : b * so.w * si.c)
        }
        while band < so.h && floats(band + 1) * 4 <= options.fuseScratchBytes { band += 1 }
        return FusedBlock(expand: expand, expandAct: expandAct, geometry: geom, dwWeights: FloatStorage(dw.weights),
                          dwBias: FloatStorage(dw.bias), dwAct: dwAct.kernel,
                          project: project.map {
                              PackedGemm(m: band * so.w, k: $0.cin, n: $0.cout, weights: $0.weights, bias: $0.bias,
                                         options: options)
                          },
                          projectAct: projectAct, input: input, residual: residual, output: out,
                          bandRows: band, ringRows: min(si.h, (band - 1) * dw.stride + dw.kernel))
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
