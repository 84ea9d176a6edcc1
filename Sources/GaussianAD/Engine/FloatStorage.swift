// The storage plans own their weights and workspaces in: 64-byte aligned floats, on huge pages
// where a buffer spans several.

/// Floats owned by a plan, 64-byte aligned; written only while the plan is built, read-only after.
final class FloatStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    /// `count` floats, zeroed, or left as the allocator gives them when `zeroed` is false
    /// (workspaces that every step writes before it reads).
    init(count: Int, zeroed: Bool = true) {
        self.count = max(count, 1)
        // A buffer of several huge pages starts on one, and asks for them before it is touched.
        let bytes = self.count * 4, large = bytes >= 2 * HugePages.size
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: large ? HugePages.size : 64)
        if large { HugePages.advise(raw, bytes: bytes) }
        pointer = zeroed ? raw.initializeMemory(as: Float.self, repeating: 0, count: self.count)
                         : raw.bindMemory(to: Float.self, capacity: self.count)
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count, zeroed: false)
        values.withUnsafeBufferPointer { v in
            if let base = v.baseAddress { pointer.update(from: base, count: v.count) }
        }
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
