// The kernel level of a test run: GAUSSIAN_AD_KERNELS, read here as the CLI reads it where it
// starts (scripts/test runs the whole suite a second time with the portable kernels forced).
import Foundation
import GaussianAD
import XCTest

/// The base of this target's test cases: before each test, the kernel level the run asks for
/// is selected (once; the library reads no environment).
class KernelLevelTestCase: XCTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        try KernelLevel.selected.get()
    }
}

enum KernelLevel {
    /// The selection, made on first use; a bad GAUSSIAN_AD_KERNELS fails every test.
    static let selected: Result<Void, Error> = Result { try Kernels.select(fromEnvironment: ProcessInfo.processInfo.environment) }
}
