// Writes files through a temporary sibling, fsync and a rename, so that readers never see half
// a file and a crash never loses the previous one; checks outputs before any work starts.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Atomic, durable file replacement.
///
///     try AtomicFile.checkWritable(url)   // before the work: a missing folder fails now
///     ...
///     try AtomicFile.write(data, to: url) // temporary file, fsync, rename, fsync of the folder
public enum AtomicFile {
    /// Seconds to wait after the temporary file is written and before it is renamed, for the
    /// tests of interrupted writes only (the tool sets it from GAUSSIAN_AD_TEST_PAUSE_BEFORE_RENAME).
    public static var pauseBeforeRename: Double {
        get { pauseLock.lock(); defer { pauseLock.unlock() }; return pause }
        set { pauseLock.lock(); defer { pauseLock.unlock() }; pause = newValue }
    }
    private static let pauseLock = NSLock()
    nonisolated(unsafe) private static var pause = 0.0

    /// Throws unless `url` can be written: it is not a folder and its folder exists and takes
    /// new files (tried by creating and removing a probe). A device such as /dev/stdout passes.
    /// - Throws: `.unwritableFile` naming the file and the cause.
    public static func checkWritable(_ url: URL) throws {
        let dest = resolved(url)
        if let kind = kind(of: dest.path) {
            if kind == S_IFDIR { throw fail(url, "it is a folder") }
            if kind != S_IFREG { return }
        }
        let dir = dest.deletingLastPathComponent()
        guard kind(of: dir.path) == S_IFDIR else {
            throw fail(url, kind(of: dir.path) == nil ? "the folder \(dir.path) does not exist" : "\(dir.path) is not a folder")
        }
        let probe = temporaryURL(for: dest, tag: "probe")
        // Registered like a write's temporary: a signal between its creation and its removal
        // removes it too.
        let slot = TemporaryFiles.register(probe.path)
        defer { TemporaryFiles.unregister(slot) }
        let fd = open(probe.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail(url, "cannot create files in \(dir.path): \(SystemError.reason(errno: errno))") }
        close(fd)
        unlink(probe.path)
    }

    /// Writes `data` to a temporary file beside `url`, flushes it to disk, renames it over
    /// `url` and flushes the folder. Temporary files of this destination left by processes
    /// that no longer run are removed first. A destination that exists and is not a regular
    /// file (a device, a pipe) is written through instead. With `durable` false (many files
    /// of one folder, such as the maps of a scoring run: `removeStaleTemporaries(in:)` once
    /// first) the file is still never seen half-written, but neither flushed nor the folder
    /// searched for stale temporaries.
    /// - Throws: `.unwritableFile` naming `url` and the cause; the temporary file is removed.
    public static func write(_ data: some ContiguousBytes, to url: URL, durable: Bool = true) throws {
        let dest = resolved(url)
        if let kind = kind(of: dest.path), kind != S_IFREG {
            if kind == S_IFDIR { throw fail(url, "it is a folder") }
            try writeThrough(data, to: dest.path, name: url)
            return
        }
        if durable { removeStaleTemporaries(of: dest) }
        let tmp = temporaryURL(for: dest, tag: "\(UInt32.random(in: 0...UInt32.max))")
        let slot = TemporaryFiles.register(tmp.path)
        defer { TemporaryFiles.unregister(slot) }
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw fail(url, SystemError.reason(errno: errno)) }
        var failure = FileBytes.writeAll(fd, data)
        if failure == 0 && durable && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure == 0 && pauseBeforeRename > 0 { usleep(UInt32(min(pauseBeforeRename, 3600) * 1e6)) }
        if failure == 0 && rename(tmp.path, dest.path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(tmp.path)
            throw fail(url, SystemError.reason(errno: failure))
        }
        guard durable else { return }
        let dfd = open(dest.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// Removes every `.NAME.tmp-PID-*` in `folder` whose process PID no longer exists.
    public static func removeStaleTemporaries(in folder: URL) { removeStale(in: folder, prefix: ".") }

    /// The destination with a symbolic link followed, so that the link's target is replaced.
    static func resolved(_ url: URL) -> URL {
        var st = stat()
        guard lstat(url.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, let real = realpath(url.path, nil) else { return url }
        defer { free(real) }
        return URL(fileURLWithPath: String(cString: real))
    }

    static func kind(of path: String) -> mode_t? {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    static func temporaryURL(for dest: URL, tag: String) -> URL {
        dest.deletingLastPathComponent().appendingPathComponent(".\(dest.lastPathComponent).tmp-\(getpid())-\(tag)")
    }

    /// Removes `.NAME.tmp-PID-*` beside `dest` whose process PID no longer exists.
    static func removeStaleTemporaries(of dest: URL) {
        removeStale(in: dest.deletingLastPathComponent(), prefix: ".\(dest.lastPathComponent).tmp-")
    }

    /// Removes the temporary files in `dir` whose names start with `prefix` and whose process
    /// (the PID after the name's last `.tmp-`) no longer exists.
    private static func removeStale(in dir: URL, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        for n in names where n.hasPrefix(prefix) {
            guard let r = n.range(of: ".tmp-", options: .backwards), let pid = Int32(n[r.upperBound...].prefix { $0 != "-" }),
                  pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dir.appendingPathComponent(n).path) }
        }
    }

    static func writeThrough(_ data: some ContiguousBytes, to path: String, name: URL) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw fail(name, SystemError.reason(errno: errno)) }
        var failure = FileBytes.writeAll(fd, data)
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure != 0 { throw fail(name, SystemError.reason(errno: failure)) }
    }

    static func fail(_ url: URL, _ why: String) -> GaussianADError { .unwritableFile(path: url.path, reason: why) }
}
