// Whole-file reads into a byte array in one copy, with an error that names the file, and
// whole-buffer writes to a descriptor that report the first failure.
import Foundation

/// Whole-file reads with errors that name the file and say why in words.
public enum FileBytes {
    /// The bytes of the file at `url`, refused unread when it is larger than `maxBytes`.
    /// - Throws: `.unreadableFile` naming the file.
    public static func read(_ url: URL, maxBytes: Int = .max) throws -> [UInt8] {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            throw GaussianADError.unreadableFile(path: url.path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            let folder = (st.st_mode & S_IFMT) == S_IFDIR
            throw GaussianADError.unreadableFile(path: url.path, reason: folder ? "it is a folder, not a file" : "not a regular file")
        }
        let size = Int(st.st_size)
        guard size <= maxBytes else {
            throw GaussianADError.unreadableFile(path: url.path, reason: "\(size) bytes, more than the \(maxBytes) allowed")
        }
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buf, initialized in
            if let base = buf.baseAddress { HugePages.advise(base, bytes: size) }
            var got = 0
            while got < size {
                let n = Foundation.read(fd, buf.baseAddress! + got, size - got)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failure = n < 0 ? errno : EIO; break }
                got += n
            }
            initialized = got
        }
        guard failure == 0, bytes.count == size else {
            throw GaussianADError.unreadableFile(path: url.path, reason: failure == 0 ? "the file changed while it was read" : String(cString: strerror(failure)))
        }
        return bytes
    }

    /// Writes every byte of `data` to `fd` (retrying interrupted and partial writes); returns
    /// 0, or the errno of the failure.
    public static func writeAll(_ fd: Int32, _ data: some ContiguousBytes) -> Int32 {
        data.withUnsafeBytes { raw -> Int32 in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; return errno }
                if n == 0 { return EIO }
                done += n
            }
            return 0
        }
    }
}
