// Reasons of failed system calls in words: the C library's message for an errno, and the POSIX
// cause inside a Foundation error, so that no message shows a framework's error dump.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

enum SystemError {
    /// The C library's message for `code` ("No space left on device").
    static func reason(errno code: Int32) -> String { String(cString: strerror(code)) }

    /// The words of `error`: its POSIX cause when it has one, else its own description.
    static func reason(_ error: Error) -> String {
        if let e = error as? GaussianADError { return e.description }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return reason(errno: Int32(ns.code)) }
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain { return reason(errno: Int32(u.code)) }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return reason(errno: ENOENT)
        case .fileReadNoPermission, .fileWriteNoPermission: return reason(errno: EACCES)
        case .fileWriteOutOfSpace: return reason(errno: ENOSPC)
        case .fileWriteVolumeReadOnly: return reason(errno: EROFS)
        default: return ns.localizedFailureReason ?? ns.localizedDescription
        }
    }

    /// Why `path` is not a regular file to read (nil when it is one): missing, a folder, a
    /// device, a broken or looping link.
    static func notARegularFile(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return reason(errno: errno) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "it is a folder, not a file"
        default: return "not a regular file"
        }
    }
}
