// Standard output for the tool's results: every write checked, so that output lost to a full
// disk, a closed pipe's reader or /dev/full fails the command instead of vanishing.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Standard output could not take a write.
struct StandardOutputFailure: Error, CustomStringConvertible {
    let code: Int32
    var description: String { "cannot write to standard output: \(String(cString: strerror(code)))" }
}

/// Writes `line` and a newline to standard output in one write (a killed run leaves whole
/// lines), unbuffered, and throws when it cannot.
func printOutput(_ line: String) throws {
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw StandardOutputFailure(code: errno)
        }
        if n == 0 { throw StandardOutputFailure(code: EIO) }
        done += n
    }
}
