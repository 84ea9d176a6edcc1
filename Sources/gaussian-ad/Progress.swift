// A progress bar with rate and ETA on standard error, only when it is a terminal.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class ProgressBar {
    private let enabled = isatty(STDERR_FILENO) != 0
    private var start = Date()
    private var label = ""

    func update(_ label: String, _ done: Int, _ total: Int) {
        guard enabled else { return }
        if label != self.label || done == 0 { self.label = label; start = Date() }
        let el = Date().timeIntervalSince(start)
        let rate = el > 0 ? Double(done) / el : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let width = 30
        let filled = total > 0 ? width * done / total : 0
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(format: "\r%@ [%@] %d/%d  %.1f img/s  ETA %.0fs ", label, bar, done, total, rate, eta)
        FileHandle.standardError.write(line.data(using: .utf8)!)
        if done >= total { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}
