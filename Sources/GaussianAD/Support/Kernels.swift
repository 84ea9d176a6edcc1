// Chooses the C kernels' instruction set once per process (GAUSSIAN_AD_KERNELS overrides).
import CKernels
import Foundation

/// The C kernels' instruction-set selection.
///
/// The first use of the library fills the dispatch table from CPUID. Set the environment
/// variable `GAUSSIAN_AD_KERNELS` to `portable`, `avx2` or `avx512f` to cap the level
/// (the tests force `portable` this way).
public enum Kernels {
    private static let initialised: ck_isa = {
        let cap: ck_isa
        switch ProcessInfo.processInfo.environment["GAUSSIAN_AD_KERNELS"]?.lowercased() {
        case "portable": cap = CK_ISA_PORTABLE
        case "avx2": cap = CK_ISA_AVX2
        default: cap = CK_ISA_AVX512
        }
        return ck_dispatch_init(cap)
    }()

    /// Makes sure the dispatch table is filled; cheap after the first call.
    @discardableResult
    public static func ensureInitialised() -> String {
        String(cString: ck_isa_name(initialised))
    }

    /// The name of the active kernel level: "portable", "avx2" or "avx512f".
    public static var activeLevel: String { ensureInitialised() }

}
