// Standard output for the tool's results: every write checked, so that output lost to a full
// disk, a closed pipe's reader or /dev/full fails the command instead of vanishing.
import Foundation
import GaussianAD
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
    let failure = FileBytes.writeAll(STDOUT_FILENO, Array((line + "\n").utf8))
    if failure != 0 { throw StandardOutputFailure(code: failure) }
}
