// The choices a plan is compiled with: every size threshold, derived from the machine's facts
// (the heuristic plan) or measured on it (`Tuner`, kept in a tuning file).
import Foundation

/// How a network is planned and run. `heuristic(for:)` derives every value from the machine's
/// cache sizes; `Tuner` measures candidates on the real network and keeps the fastest.
///
///     let options = PlanOptions.heuristic(for: .current)
///     let net = try Backbone.load(.efficientNetLite0, threads: 2, plan: options)
///
/// Every choice changes only speed: the features are the same within float rounding.
public struct PlanOptions: Sendable, Codable, Equatable {
    /// A size no tensor reaches: as `fuseMinBytes`, fuse no block.
    public static let never = 1 << 40

    /// Inverted-residual blocks whose expanded tensor has at least this many bytes are fused
    /// over row bands (0 fuses every block; `never` none).
    public var fuseMinBytes: Int
    /// Scratch bytes per thread for a fused block's ring of expanded rows and depthwise band.
    public var fuseScratchBytes: Int
    /// Bytes of im2col rows computed at once per thread.
    public var im2colChunkBytes: Int
    /// Scratch bytes per thread of one Winograd band (transformed input and products); a layer
    /// whose transformed weights are larger gets bands of up to their size (at most 8 times this),
    /// since every band reads all of them.
    public var winogradBandBytes: Int
    /// Bytes of packed weights a thread keeps in cache inside one GEMM (see ck_f32_gemm_run).
    public var gemmPanelBudget: Int
    /// A GEMM whose weights stream (beyond `gemmPanelBudget`) prefetches its next panel of
    /// weights while a panel has at most this many bytes (0: never; see ck_f32_gemm_run).
    public var gemmPrefetchBytes: Int = 0
    /// Whether 3x3 stride-1 convolutions use Winograd (else im2col and a GEMM).
    public var winograd: Bool
    /// The largest output tile of Winograd: 4 for F(4x4, 3x3) on maps of at least 12 x 12 (36
    /// products per 16 pixels: 4x fewer multiplies than a GEMM, rounding errors of 1e-6 to 1e-5
    /// of a layer's largest output) and F(2x2, 3x3) on smaller ones; 2 for F(2x2, 3x3)
    /// everywhere (16 products per 4 pixels: 2.25x fewer, a few 1e-7).
    public var winogradTile: Int = 4
    /// Whether dense convolutions over images of a few channels (the stems) read each output
    /// row's input rows interleaved by column in place (a copy s / k of im2col's), else
    /// im2col rows (see `Im2colConv`).
    public var interleaveRows: Bool = true
    /// Whether a batch's images are spread one per thread while there are enough of them
    /// (each image's activations stay in one core's cache), or every op is split over all
    /// threads for every image.
    public var spreadImages: Bool
    /// Sub-batches: with images spread over the threads, a thread runs this many bytes' worth of
    /// images together through the last stage (the steps on the network's smallest maps, where
    /// the weights are largest and each image's activations smallest): as many images as fit
    /// this budget with the stage's largest tensor, at most 8, so that each weight is read once
    /// for all of them (the stage's GEMMs get that many times the rows). 0 runs every image alone.
    public var subBatchBytes: Int = 0
    /// The GEMM micro-kernel measured fastest for a product shape (`gemmKey`), by its
    /// registered name; shapes not listed, or kernels this CPU cannot run, use the heuristic
    /// (the fewest padded rows x columns).
    public var gemmKernels: [String: String] = [:]

    /// The key of a product of m rows, k inner and n output columns in `gemmKernels`.
    public static func gemmKey(m: Int, k: Int, n: Int) -> String { "\(m)x\(k)x\(n)" }

    /// Creates options from explicit values.
    public init(fuseMinBytes: Int, fuseScratchBytes: Int, im2colChunkBytes: Int, winogradBandBytes: Int,
                gemmPanelBudget: Int, winograd: Bool, spreadImages: Bool) {
        self.fuseMinBytes = fuseMinBytes
        self.fuseScratchBytes = fuseScratchBytes
        self.im2colChunkBytes = im2colChunkBytes
        self.winogradBandBytes = winogradBandBytes
        self.gemmPanelBudget = gemmPanelBudget
        self.winograd = winograd
        self.spreadImages = spreadImages
    }

    /// The plan derived from a core's L2 size (docs/PERFORMANCE.md, "the heuristic plan"):
    /// fuse blocks whose expanded tensor does not fit in L2, give a fused block 3/8 of L2 for
    /// its ring and band, im2col 3/32 of it, a Winograd band and a GEMM's weights half of it,
    /// and sub-batches of the last stage twice of it; streamed GEMM panels of at most half of L1d
    /// prefetch the next.
    public static func heuristic(for machine: MachineFacts) -> PlanOptions {
        let l2 = machine.planningL2Bytes
        var o = PlanOptions(fuseMinBytes: l2, fuseScratchBytes: l2 / 8 * 3, im2colChunkBytes: max(l2 / 32 * 3, 16 << 10),
                            winogradBandBytes: l2 / 2, gemmPanelBudget: l2 / 2, winograd: true, spreadImages: true)
        o.subBatchBytes = 2 * l2
        o.gemmPrefetchBytes = machine.planningL1dBytes / 2
        return o
    }

    /// Whether every value is in the range a plan can use (a tuning file is untrusted input).
    public var isValid: Bool {
        let sizes = [fuseScratchBytes, im2colChunkBytes, winogradBandBytes, gemmPanelBudget]
        return fuseMinBytes >= 0 && fuseMinBytes <= Self.never && sizes.allSatisfy { $0 >= 4 << 10 && $0 <= 1 << 30 }
            && (winogradTile == 2 || winogradTile == 4) && subBatchBytes >= 0 && subBatchBytes <= 1 << 30 && gemmPrefetchBytes >= 0 && gemmPrefetchBytes <= 1 << 30
            && gemmKernels.count <= 10_000 && gemmKernels.allSatisfy { $0.key.count <= 64 && $0.value.count <= 128 }
    }

    enum CodingKeys: String, CodingKey {
        case fuseMinBytes, fuseScratchBytes, im2colChunkBytes, winogradBandBytes, gemmPanelBudget, gemmPrefetchBytes, winograd, winogradTile,
             interleaveRows, spreadImages, subBatchBytes, gemmKernels
    }

    /// Decodes options; `gemmKernels` may be absent, and so may `winogradTile` (entries tuned
    /// before F(4x4, 3x3) existed measured F(2x2, 3x3): 2) and `interleaveRows` (entries tuned
    /// before it measured im2col stems: false).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fuseMinBytes = try c.decode(Int.self, forKey: .fuseMinBytes)
        fuseScratchBytes = try c.decode(Int.self, forKey: .fuseScratchBytes)
        im2colChunkBytes = try c.decode(Int.self, forKey: .im2colChunkBytes)
        winogradBandBytes = try c.decode(Int.self, forKey: .winogradBandBytes)
        gemmPanelBudget = try c.decode(Int.self, forKey: .gemmPanelBudget)
        gemmPrefetchBytes = try c.decode(Int.self, forKey: .gemmPrefetchBytes)
        winograd = try c.decode(Bool.self, forKey: .winograd)
        winogradTile = try c.decodeIfPresent(Int.self, forKey: .winogradTile) ?? 2
        interleaveRows = try c.decodeIfPresent(Bool.self, forKey: .interleaveRows) ?? false
        spreadImages = try c.decode(Bool.self, forKey: .spreadImages)
        subBatchBytes = try c.decode(Int.self, forKey: .subBatchBytes)
        gemmKernels = try c.decodeIfPresent([String: String].self, forKey: .gemmKernels) ?? [:]
    }
}
