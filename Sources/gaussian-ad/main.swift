// Entry point of the gaussian-ad command-line tool.
import Foundation
import GaussianAD
import CSystemMalloc

// Buffers up to 64 MiB come from the heap, not from fresh mappings of their own: loading the
// weights reads, converts, folds and packs tens of megabytes and frees the intermediates, and
// every fresh mapping is paid again in page faults (a third of a cold start's samples; with the
// heap reused a cold `classify` takes about 15 % less).
_ = mallopt(M_MMAP_THRESHOLD, 64 << 20)

// No other thread exists yet: BLAS's idle threads can stop spinning on the cores start-up needs.
Kernels.releaseIdleBLASThreads()
// Temporary files of an interrupted write are removed on SIGINT, SIGTERM and SIGHUP.
TemporaryFiles.removeOnSignals()
if let s = ProcessInfo.processInfo.environment["GAUSSIAN_AD_TEST_PAUSE_BEFORE_RENAME"], let v = Double(s) {
    AtomicFile.pauseBeforeRename = v
}
exit(CLI.run(Array(CommandLine.arguments.dropFirst())))
