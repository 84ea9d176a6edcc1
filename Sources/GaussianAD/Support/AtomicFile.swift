// Writes files through a temporary sibling and a rename, so readers never see half a file.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Atomic file replacement.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `url`, then renames it over `url`.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try data.write(to: tmp)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw GaussianADError.unreadableFile(path: url.path, reason: "cannot write: \((error as NSError).localizedDescription)")
        }
        guard rename(tmp.path, url.path) == 0 else {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw GaussianADError.unreadableFile(path: url.path, reason: "cannot move into place: \(why)")
        }
    }
}
