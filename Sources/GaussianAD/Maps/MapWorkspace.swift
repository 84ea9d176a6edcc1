// What one thread reuses from map to map: the map's buffers, the labelling's scratch and the
// resize-and-smooth matrices of the sizes it has seen.
import CKernels

/// Buffers one thread reuses from map to map (a map at a large image's size is megabytes; fresh
/// ones every image cost their page faults), and the resize-and-smooth matrices of the sizes seen.
/// Not shared between threads: one per thread.
public final class MapWorkspace {
    /// One axis's matrix (m x n) and its rows' nonzero column ranges.
    final class Matrix {
        let a: [Double], lo: [Int], hi: [Int]
        init(n: Int, m: Int, sigma: Double) {
            var a = [Double](repeating: 0, count: m * n), lo = [Int](repeating: 0, count: m), hi = lo
            var kern = [Double](repeating: 0, count: 2 * ck_gaussian_radius(sigma) + 1)
            ck_f64_upsample_smooth_matrix(n, m, sigma, &a, &lo, &hi, &kern)
            (self.a, self.lo, self.hi) = (a, lo, hi)
        }
    }

    /// A buffer that only grows; its contents are not kept across growth nor zeroed.
    private struct Grown<T> {
        private(set) var pointer = UnsafeMutablePointer<T>.allocate(capacity: 1)
        private var capacity = 1

        /// At least `n` elements.
        mutating func reserve(_ n: Int) -> UnsafeMutablePointer<T> {
            if n > capacity {
                pointer.deallocate()
                pointer = .allocate(capacity: n)
                capacity = n
            }
            return pointer
        }

        func free() { pointer.deallocate() }
    }

    private var mapBuffer = Grown<Double>(), scratchBuffer = Grown<Double>(), regionsBuffer = Grown<Int32>()
    private struct Key: Hashable { let n: Int, m: Int, sigma: Double }
    private var matrices: [Key: Matrix] = [:]

    /// Empty buffers, grown on use.
    public init() {}

    deinit {
        mapBuffer.free()
        scratchBuffer.free()
        regionsBuffer.free()
    }

    /// The matrix resizing n samples to m and smoothing them by sigma (kept for the next image;
    /// the last few dozen sizes).
    func matrix(n: Int, m: Int, sigma: Double) -> Matrix {
        let k = Key(n: n, m: m, sigma: sigma)
        if let x = matrices[k] { return x }
        if matrices.count >= 32 { matrices.removeAll() }
        let x = Matrix(n: n, m: m, sigma: sigma)
        matrices[k] = x
        return x
    }

    /// A map's buffer of at least `n` doubles and the resize's scratch of at least `s`.
    func buffers(map n: Int, scratch s: Int) -> (map: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>) {
        (mapBuffer.reserve(n), scratchBuffer.reserve(s))
    }

    /// Scratch of `n` int32 for the labelling of regions (`ck_f32_regions8`), not zeroed.
    func regionScratch(_ n: Int) -> UnsafeMutablePointer<Int32> { regionsBuffer.reserve(n) }
}
