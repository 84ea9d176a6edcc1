// The executor: runs a plan on batches with its own thread pool. Images are claimed one per
// thread while there are enough of them (each image's activations stay in its core's cache);
// the rest run one at a time with every op split over all threads by rows (ith / nth).
import CKernels
import Foundation

/// A compiled network with a persistent thread pool and a preallocated workspace.
///
/// The thread count is the engine's own; nothing is set process-wide. One batch runs at a
/// time (calls are serialised); the steady state allocates nothing.
final class Engine: @unchecked Sendable {
    let plan: ExecutionPlan
    let threads: Int
    private let pool: OpaquePointer
    /// threads x (arena + scratch + one input image + group arena) floats, 64-byte aligned.
    private let workspace: FloatStorage
    private let slotFloats: Int
    /// Where a thread's own input image starts in its slot (for images it prepares and runs),
    /// and its group arena (the sub-batched last stage's tensors, `ExecutionPlan.groupImages`).
    private let inputOffset: Int, groupOffset: Int
    /// threads x groupImages image numbers: each thread's images waiting for the last stage.
    private let groupSlots: UnsafeMutablePointer<Int>
    /// Serialises runs: the pool, the workspace and `job` belong to one batch at a time.
    private let lock = NSLock()
    private var job: Job?

    /// Creates the pool and the workspace for `threads` threads.
    /// - Throws: `.invalidArgument` if the threads cannot be started.
    init(plan: ExecutionPlan, threads: Int) throws {
        self.plan = plan
        self.threads = max(1, threads)
        guard let p = ck_pool_create(self.threads) else {
            throw GaussianADError.invalidArgument("cannot start \(threads) engine threads")
        }
        pool = p
        inputOffset = (plan.arenaFloats + plan.scratchFloats + 15) / 16 * 16
        groupOffset = inputOffset + (plan.inputShape.count + 15) / 16 * 16
        slotFloats = groupOffset + (plan.groupArenaFloats + 15) / 16 * 16
        workspace = FloatStorage(count: self.threads * slotFloats, zeroed: false)
        groupSlots = .allocate(capacity: self.threads * plan.groupImages)
    }

    /// Floats of the workspace (every thread's slot).
    var workspaceFloats: Int { threads * slotFloats }

    deinit {
        ck_pool_destroy(pool)
        groupSlots.deallocate()
    }

    /// Writes image i's input (S x S x 3 floats) into the slot given; run on the pool's threads.
    typealias Prepare = @Sendable (Int, UnsafeMutablePointer<Float>) -> Void

    /// Everything one batch needs, read by every thread.
    private struct Job {
        let count: Int
        /// Without `prepare`, every image's input; with it, the inputs of the images that run
        /// with every op split over the threads (image `spread + j` at slot j).
        let input: UnsafePointer<Float>
        let prepare: Prepare?
        let levels: UnsafeMutablePointer<Float>
        let logits: UnsafeMutablePointer<Float>?
        let maps: MapOutput?
    }

    /// Where a run writes the maps of some levels: image i's map of level l (h x w x c floats,
    /// NHWC) at `pointer + i * stride + offsets[l]`; levels whose offset is negative are not
    /// written.
    struct MapOutput {
        let pointer: UnsafeMutablePointer<Float>
        let stride: Int
        let offsets: [Int]
    }

    /// Images of a batch of `count` that run one per thread; the others (fewer than the threads,
    /// or all of them when the plan splits every op) run with every op split over the threads.
    func spreadImages(count: Int) -> Int {
        plan.options.spreadImages ? count / threads * threads : 0
    }

    /// Input images a `prepare` run of `count` images needs from the caller: those that do not
    /// run one per thread (an image that does is written into its thread's own slot).
    func sharedInputImages(count: Int) -> Int { count - spreadImages(count: count) }

    /// Runs `count` images: `input` holds them as S x S x 3 NHWC floats one after another.
    /// Writes `count` rows of the pooled levels, and of logits / level maps if given.
    /// With `prepare`, the pool's threads write each image themselves, just before it runs
    /// (decoding and resizing then stay within the engine's threads, and the input is still in
    /// the core's cache when the network reads it): an image that runs on one thread into that
    /// thread's own slot, the others into `input` (`sharedInputImages(count:)` of them), so that
    /// a long run of images needs no input buffer of its size.
    func run(count: Int, input: UnsafePointer<Float>, levels: UnsafeMutablePointer<Float>,
             logits: UnsafeMutablePointer<Float>? = nil, maps: MapOutput? = nil, prepare: Prepare? = nil) {
        guard count > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        job = Job(count: count, input: input, prepare: prepare, levels: levels, logits: logits, maps: maps)
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        ck_pool_run(pool, { ctx, ith, nth in
            Unmanaged<Engine>.fromOpaque(ctx!).takeUnretainedValue().work(ith: ith, nth: nth)
        }, ctx)
        job = nil
    }

    /// Runs `body(index, thread)` for every index of `0..<count` on the pool's threads, each
    /// index claimed once (a thread on a busier core takes fewer): work beside the network that
    /// must stay within its threads instead of competing with them. Serialised with `run`.
    func forEach(_ count: Int, _ body: (Int, Int) -> Void) {
        guard count > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        withoutActuallyEscaping(body) { body in
            var task = ParallelTask(count: count, body: body, pool: pool)
            withUnsafeMutablePointer(to: &task) { t in
                ck_pool_run(pool, { ctx, ith, _ in
                    let t = ctx!.assumingMemoryBound(to: ParallelTask.self)
                    while true {
                        let i = ck_pool_claim(t.pointee.pool)
                        guard i < t.pointee.count else { return }
                        t.pointee.body(i, ith)
                    }
                }, UnsafeMutableRawPointer(t))
            }
        }
    }

    /// One `forEach`: what every thread reads.
    private struct ParallelTask {
        let count: Int
        let body: (Int, Int) -> Void
        let pool: OpaquePointer
    }

    /// Thread ith's part of the current job: whole images claimed one at a time while every
    /// thread can still get one (a thread on a busier core claims fewer; with sub-batches, its
    /// images wait after the stage before the last one until it has a group), then the
    /// remainder with every op split over the threads. Without `spreadImages`, every image is split.
    /// With `prepare`, the claiming thread writes each image's input first (the remainder's too).
    private func work(ith: Int, nth: Int) {
        guard let job else { return }
        let spread = spreadImages(count: job.count)
        let claimed = job.prepare == nil ? spread : job.count
        let mine = workspace.pointer + ith * slotFloats
        let S = plan.inputShape.count
        // Where image i's input is (or is written) when it runs split over the threads.
        func splitInput(_ i: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutablePointer(mutating: job.input) + (job.prepare == nil ? i : i - spread) * S
        }
        // Images of this thread waiting for the sub-batched last stage (plan.groupImages of them).
        let slots = groupSlots + ith * plan.groupImages
        var waiting = 0
        while claimed > 0 {
            let i = ck_pool_claim(pool)
            guard i < claimed else { break }
            if i < spread {
                var input = UnsafeMutablePointer(mutating: job.input) + i * S
                if let prepare = job.prepare {
                    input = mine + inputOffset
                    prepare(i, input)
                }
                if plan.groupImages > 1 {
                    runStage(i, input: input, job: job, slot: mine, into: waiting)
                    slots[waiting] = i
                    waiting += 1
                    if waiting == plan.groupImages {
                        runGroup(UnsafeBufferPointer(start: slots, count: waiting), job: job, slot: mine)
                        waiting = 0
                    }
                } else {
                    runImage(i, input: input, job: job, arena: mine, scratch: mine + plan.arenaFloats, ith: 0, nth: 1)
                }
            } else {
                job.prepare?(i, splitInput(i))
            }
        }
        if waiting > 0 { runGroup(UnsafeBufferPointer(start: slots, count: waiting), job: job, slot: mine) }
        guard spread < job.count else { return }
        ck_pool_barrier(pool)
        let shared = workspace.pointer
        for i in spread..<job.count {
            runImage(i, input: splitInput(i), job: job, arena: shared, scratch: mine + plan.arenaFloats, ith: ith, nth: nth)
        }
    }

    /// Seconds each step of the plan takes on one image on the calling thread alone (the best
    /// of `rounds` runs): where the time of a network goes, step by step.
    func profileSteps(input: UnsafePointer<Float>, rounds: Int = 5) -> [Double] {
        lock.lock()
        defer { lock.unlock() }
        var levels = [Float](repeating: 0, count: plan.featureDim)
        var best = [Double](repeating: .infinity, count: plan.steps.count)
        var times = [Double](repeating: 0, count: plan.steps.count)
        levels.withUnsafeMutableBufferPointer { lv in
            let job = Job(count: 1, input: input, prepare: nil, levels: lv.baseAddress!, logits: nil, maps: nil)
            for _ in 0..<max(1, rounds) {
                times.withUnsafeMutableBufferPointer { t in
                    runImage(0, input: UnsafeMutablePointer(mutating: input), job: job, arena: workspace.pointer,
                             scratch: workspace.pointer + plan.arenaFloats, ith: 0, nth: 1, times: t.baseAddress)
                }
                for i in best.indices { best[i] = min(best[i], times[i]) }
            }
        }
        return best
    }

    /// All steps on image `image` (its input at `input`, its tensors in `arena` at the plan's
    /// offsets), thread ith of nth sharing it (barriers between steps when nth > 1); with
    /// `times`, the seconds of each step are written there.
    private func runImage(_ image: Int, input: UnsafeMutablePointer<Float>, job: Job, arena: UnsafeMutablePointer<Float>,
                          scratch: UnsafeMutablePointer<Float>, ith: Int, nth: Int, times: UnsafeMutablePointer<Double>? = nil) {
        let offsets = plan.offsets
        runSteps(plan.steps.indices, image: image, job: job, tensor: { $0 == 0 ? input : arena + offsets[$0] }, temps: arena,
                 scratch: scratch, ith: ith, nth: nth, times: times)
    }

    /// The steps before the sub-batched stage on image `image` in the thread's own arena, then
    /// its boundary tensors copied to place `j` of the thread's group arena.
    private func runStage(_ image: Int, input: UnsafeMutablePointer<Float>, job: Job, slot: UnsafeMutablePointer<Float>, into j: Int) {
        let offsets = plan.offsets
        runSteps(0..<plan.groupStart, image: image, job: job, tensor: { $0 == 0 ? input : slot + offsets[$0] }, temps: slot,
                 scratch: slot + plan.arenaFloats, ith: 0, nth: 1)
        for t in plan.boundary {
            let n = plan.shapes[t].count
            (slot + groupOffset + plan.groupOffsets[t] + j * n).update(from: slot + offsets[t], count: n)
        }
    }

    /// The sub-batched stage for the thread's `images` (their boundary tensors in the group
    /// arena): pointwise GEMMs and adds once over all of them, Winograd bands with all images'
    /// tiles in each of the 16 GEMMs, every other step image by image. The thread's own arena is
    /// free by then and holds the per-image temporaries (squeeze-excitation, classifier).
    private func runGroup(_ images: UnsafeBufferPointer<Int>, job: Job, slot: UnsafeMutablePointer<Float>) {
        let g = images.count, base = slot + groupOffset, scratch = slot + plan.arenaFloats
        @inline(__always) func t(_ n: Int, _ j: Int = 0) -> UnsafeMutablePointer<Float> {
            base + plan.groupOffsets[n] + j * plan.shapes[n].count
        }
        for index in plan.groupStart..<plan.steps.count {
            switch plan.steps[index] {
            case .pointwise(let p, let pixels, let x, let r, let act, let o):
                p.run(m: pixels * g, a: t(x), residual: r.map { UnsafePointer(t($0)) }, c: t(o), act: act, ith: 0, nth: 1)
            case .add(let a, let b, let count, let act, let o):
                ck_f32_add_act(count * g, t(a), t(b), t(o), act)
            case .winograd(let wc):
                wc.runGroup(images: g, input: { UnsafePointer(t(wc.input, $0)) },
                            residual: wc.residual.map { r in { UnsafePointer(t(r, $0)) } }, output: { t(wc.output, $0) },
                            scratch: scratch)
            default:
                for j in 0..<g {
                    runSteps(index..<(index + 1), image: images[j], job: job, tensor: { t($0, j) }, temps: slot,
                             scratch: scratch, ith: 0, nth: 1)
                }
            }
        }
    }

    /// Steps `range` on image `image`: tensor n at `tensor(n)`, the steps' temporaries at their
    /// offsets from `temps`.
    private func runSteps(_ range: Range<Int>, image: Int, job: Job, tensor: (Int) -> UnsafeMutablePointer<Float>,
                          temps arena: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, ith: Int, nth: Int,
                          times: UnsafeMutablePointer<Double>? = nil) {
        @inline(__always) func t(_ n: Int) -> UnsafeMutablePointer<Float> { tensor(n) }
        @inline(__always) func rows(_ total: Int) -> (Int, Int) { (total * ith / nth, total * (ith + 1) / nth) }
        let levelRow = job.levels + image * plan.featureDim
        var clock = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        for index in range {
            let step = plan.steps[index]
            switch step {
            case .pointwise(let g, let pixels, let x, let r, let act, let o):
                g.run(m: pixels, a: t(x), residual: r.map { UnsafePointer(t($0)) }, c: t(o), act: act, ith: ith, nth: nth)
            case .conv(let c):
                let (y0, y1) = rows(c.geometry.out_h)
                c.run(t(c.input), residual: c.residual.map { UnsafePointer(t($0)) }, into: t(c.output), rows: y0..<y1, scratch: scratch)
            case .winograd(let wc):
                let (t0, t1) = rows(wc.tilesH)
                wc.run(t(wc.input), residual: wc.residual.map { UnsafePointer(t($0)) }, into: t(wc.output), tileRows: t0..<t1,
                       scratch: scratch)
            case .depthwise(var geom, let w, let b, let act, let x, let o):
                let (y0, y1) = rows(geom.out_h)
                if y0 < y1 { ck_f32_dwconv_nhwc(&geom, t(x), 0, w.pointer, b.pointer, act, t(o), 0, y0, y1) }
            case .squeezeExcite(let reduce, let expand, let act, let pixels, let x, let o, let tmp):
                let c = expand.n, pooled = arena + tmp, hidden = pooled + c, gate = hidden + reduce.n
                if ith == 0 {
                    ck_f32_mean_pool_nhwc(pixels, c, c, t(x), pooled)
                    reduce.run(m: 1, a: pooled, residual: nil, c: hidden, act: act, ith: 0, nth: 1)
                    expand.run(m: 1, a: hidden, residual: nil, c: gate, act: CK_ACT_SIGMOID, ith: 0, nth: 1)
                }
                if nth > 1 { ck_pool_barrier(pool) }
                let (p0, p1) = rows(pixels)
                if p0 < p1 { ck_f32_scale_channels(p1 - p0, c, t(x) + p0 * c, gate, t(o) + p0 * c) }
            case .pool(var geom, let isMax, let x, let o):
                let (y0, y1) = rows(geom.out_h)
                if y0 < y1 { ck_f32_pool2d_nhwc(&geom, isMax ? 1 : 0, t(x), t(o), y0, y1) }
            case .add(let a, let b, let count, let act, let o):
                let (e0, e1) = rows(count)
                if e0 < e1 { ck_f32_add_act(e1 - e0, t(a) + e0, t(b) + e0, t(o) + e0, act) }
            case .tap(let x, let pixels, let channels, let off, let level):
                // Threads sharing an image pool disjoint channel ranges, whole 16-channel
                // blocks each (a vector of every ISA), the last thread the rest.
                let blocks = (channels + 15) / 16
                let c0 = min(channels, blocks * ith / nth * 16), c1 = min(channels, blocks * (ith + 1) / nth * 16)
                if c0 < c1 { ck_f32_mean_pool_nhwc(pixels, c1 - c0, channels, t(x) + c0, levelRow + off + c0) }
                if ith == 0, let m = job.maps, m.offsets[level] >= 0 {
                    (m.pointer + image * m.stride + m.offsets[level]).update(from: t(x), count: pixels * channels)
                }
            case .fused(let f):
                let (y0, y1) = rows(f.geometry.out_h)
                if y0 < y1 { f.run(rows: y0..<y1, tensor: tensor, scratch: scratch) }
            case .classifier(let g, let x, let pixels, let tmp):
                if ith == 0, let lg = job.logits {
                    ck_f32_mean_pool_nhwc(pixels, g.k, g.k, t(x), arena + tmp)
                    g.run(m: 1, a: arena + tmp, residual: nil, c: lg + image * plan.classes, act: CK_ACT_NONE, ith: 0, nth: 1)
                }
            }
            if nth > 1 { ck_pool_barrier(pool) }
            if let times {
                let t = DispatchTime.now().uptimeNanoseconds
                times[index] = Double(t - clock) / 1e9
                clock = t
            }
        }
    }
}
