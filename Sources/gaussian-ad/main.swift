// Entry point of the gaussian-ad command-line tool.
import Foundation
import GaussianAD

// No other thread exists yet: BLAS's idle threads can stop spinning on the cores start-up needs.
Kernels.releaseIdleBLASThreads()
// Temporary files of an interrupted write are removed on SIGINT, SIGTERM and SIGHUP.
TemporaryFiles.removeOnSignals()
if let s = ProcessInfo.processInfo.environment["GAUSSIAN_AD_TEST_PAUSE_BEFORE_RENAME"], let v = Double(s) {
    AtomicFile.pauseBeforeRename = v
}
exit(CLI.run(Array(CommandLine.arguments.dropFirst())))
