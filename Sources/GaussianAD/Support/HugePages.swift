// Large buffers backed by 2 MiB pages where the system allows it: a cold start faults in the
// weights, the model and the packed network a 4 KiB page at a time otherwise.
import Foundation

/// Asks the kernel for transparent huge pages under large buffers before they are first written.
enum HugePages {
    /// Bytes of one huge page (x86-64 and most arm64 Linux systems).
    static let size = 2 << 20

    /// Advises huge pages for the whole 2 MiB pages inside `bytes` bytes at `base` (nothing for
    /// a buffer that holds none). Call it before the buffer is written: pages already faulted in
    /// stay small. Where transparent huge pages are off (or on another system) it does nothing.
    static func advise(_ base: UnsafeMutableRawPointer, bytes: Int) {
        #if os(Linux)
        let start = (Int(bitPattern: base) + size - 1) & ~(size - 1)
        let end = (Int(bitPattern: base) + bytes) & ~(size - 1)
        guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(p, end - start, MADV_HUGEPAGE)
        #endif
    }
}
