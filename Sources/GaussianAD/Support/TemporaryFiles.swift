// The temporary files being written right now, so that SIGINT, SIGTERM or SIGHUP can remove
// them before the process dies: a fixed table the signal handler reads without allocating.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Temporary files to remove if the process is stopped by a signal while writing them.
///
///     TemporaryFiles.removeOnSignals()          // once, where a tool starts
///     let slot = TemporaryFiles.register(path)  // before creating the file
///     defer { TemporaryFiles.unregister(slot) } // once it is renamed or removed
public enum TemporaryFiles {
    static let slotCount = 16
    static let slotBytes = Int(PATH_MAX) + 1
    /// `slotCount` NUL-terminated paths; a slot whose first byte is 0 is free.
    nonisolated(unsafe) static let table: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: slotCount * slotBytes)
        p.initialize(repeating: 0, count: slotCount * slotBytes)
        return p
    }()
    /// Serialises `register` and `unregister` (the handler only reads).
    static let lock = NSLock()

    /// Records `path` as in progress; returns its slot (nil when the table is full or the path
    /// too long: the file is then simply not removed on a signal).
    public static func register(_ path: String) -> Int? {
        let bytes = Array(path.utf8CString)
        guard bytes.count <= slotBytes else { return nil }
        lock.lock(); defer { lock.unlock() }
        guard let slot = (0..<slotCount).first(where: { table[$0 * slotBytes] == 0 }) else { return nil }
        let base = table + slot * slotBytes
        // The first byte last: the handler never sees half a path.
        for i in 1..<bytes.count { base[i] = bytes[i] }
        base[0] = bytes[0]
        return slot
    }

    /// Forgets the path of `slot`.
    public static func unregister(_ slot: Int?) {
        guard let slot else { return }
        lock.lock(); defer { lock.unlock() }
        table[slot * slotBytes] = 0
    }

    /// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove every registered file and
    /// then let the signal end the process as it would have.
    public static func removeOnSignals() {
        _ = table
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                let t = TemporaryFiles.table
                for s in 0..<TemporaryFiles.slotCount where t[s * TemporaryFiles.slotBytes] != 0 {
                    unlink(t + s * TemporaryFiles.slotBytes)
                }
                signal(sig, SIG_DFL)
                raise(sig)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = Int32(bitPattern: UInt32(SA_RESETHAND))
            sigaction(sig, &action, nil)
        }
    }
}
