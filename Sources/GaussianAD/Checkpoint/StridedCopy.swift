// Copies a strided view of elements into row-major order: the checkpoint reader's views and
// the tensors asked for in another dimension order.

enum StridedCopy {
    /// Copies the `size`-shaped view at element offset `base` with element strides `stride`
    /// (every offset already bounds-checked) from `src` into `dst`, row-major.
    static func run(elementSize es: Int, _ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer,
                    base: Int, size: [Int], stride: [Int]) {
        switch es {
        case 8: copy(UInt64.self, src, dst, base: base, size: size, stride: stride)
        case 4: copy(UInt32.self, src, dst, base: base, size: size, stride: stride)
        case 2: copy(UInt16.self, src, dst, base: base, size: size, stride: stride)
        default: copy(UInt8.self, src, dst, base: base, size: size, stride: stride)
        }
    }

    /// Copies the elements of a strided view (offsets already bounds-checked) into `dst` in
    /// row-major order. The innermost loop runs along the dimension with the smallest source
    /// stride (a permuted view is read in storage order), the other dimensions in an odometer
    /// that moves both offsets by one add per step. When that dimension is not the last one
    /// (a transposed view, as checkpoints saved in HWIO order hold every convolution weight),
    /// the two are copied in square tiles, so that the reads and the writes of a tile each
    /// stay on a few cache lines instead of one line per element written.
    static func copy<E>(_: E.Type, _ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer,
                                       base: Int, size: [Int], stride: [Int]) {
        let rank = size.count
        guard rank > 0, let s0 = src.baseAddress, let d0 = dst.baseAddress else { return }
        // Row-major destination strides, in elements.
        var dstStride = [Int](repeating: 1, count: rank)
        var d = rank - 2
        while d >= 0 { dstStride[d] = dstStride[d + 1] * size[d + 1]; d -= 1 }
        let live = (0..<rank).filter { size[$0] > 1 }
        let inner = live.min { abs(stride[$0]) < abs(stride[$1]) } ?? rank - 1
        let last = live.last ?? rank - 1
        let tile = 16
        let tiled = inner != last && size[inner] >= tile && size[last] >= tile
        let outerDims = live.filter { $0 != inner && !(tiled && $0 == last) }
        let n = size[inner], ss = stride[inner], ds = dstStride[inner]
        let m = size[last], ms = stride[last], md = dstStride[last]
        let sp = s0.assumingMemoryBound(to: UInt8.self), dp = d0.assumingMemoryBound(to: UInt8.self)
        let es = MemoryLayout<E>.size
        @inline(__always) func copy(_ a: Int, _ b: Int) {
            UnsafeMutableRawPointer(dp + b * es).storeBytes(of: UnsafeRawPointer(sp + a * es).loadUnaligned(as: E.self), as: E.self)
        }
        var idx = [Int](repeating: 0, count: outerDims.count)
        var so = base, dO = 0
        while true {
            if tiled {
                for j0 in Swift.stride(from: 0, to: m, by: tile) {
                    let j1 = min(m, j0 + tile)
                    for i0 in Swift.stride(from: 0, to: n, by: tile) {
                        let i1 = min(n, i0 + tile)
                        for j in j0..<j1 {
                            var a = so + j * ms + i0 * ss, b = dO + j * md + i0 * ds
                            for _ in i0..<i1 { copy(a, b); a += ss; b += ds }
                        }
                    }
                }
            } else {
                var a = so, b = dO
                for _ in 0..<n { copy(a, b); a += ss; b += ds }
            }
            // The odometer over the outer dimensions, last fastest.
            var k = outerDims.count - 1
            while k >= 0 {
                let d = outerDims[k]
                idx[k] += 1
                so += stride[d]
                dO += dstStride[d]
                if idx[k] < size[d] { break }
                so -= size[d] * stride[d]
                dO -= size[d] * dstStride[d]
                idx[k] = 0
                k -= 1
            }
            if k < 0 { return }
        }
    }
}
