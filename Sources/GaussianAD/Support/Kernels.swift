// The C kernels' instruction-set level: chosen once per process, behind an init-once guard, from
// CPUID and the cap a program asks for where it starts (the library reads no environment).
import CKernels
import Foundation

/// The C kernels' instruction-set selection.
///
/// The dispatch table is filled once, the first time a network is built (or `select(cap:)` is
/// called), with the best level the CPU supports at or below the cap. Without a cap that is
/// the CPU's best. A program that lets its users cap the level (the CLI honours
/// `GAUSSIAN_AD_KERNELS`) calls `select(cap:)` where it starts:
///
///     try Kernels.select(fromEnvironment: ProcessInfo.processInfo.environment)
public enum Kernels {
    /// A level of the C kernels, lowest first.
    public enum Level: String, Sendable, CaseIterable, Comparable {
        /// Plain C, no instruction set beyond the target's baseline.
        case portable
        /// AVX2 and FMA.
        case avx2
        /// AVX-512 (F).
        case avx512f

        init(_ isa: ck_isa) {
            switch isa {
            case CK_ISA_AVX512: self = .avx512f
            case CK_ISA_AVX2: self = .avx2
            default: self = .portable
            }
        }

        var isa: ck_isa {
            switch self {
            case .portable: return CK_ISA_PORTABLE
            case .avx2: return CK_ISA_AVX2
            case .avx512f: return CK_ISA_AVX512
            }
        }

        /// Lower levels first.
        public static func < (a: Level, b: Level) -> Bool { a.isa.rawValue < b.isa.rawValue }
    }

    /// The level chosen, once; guarded by a lock so that concurrent first uses agree.
    private final class Choice: @unchecked Sendable {
        let lock = NSLock()
        var level: Level?
    }
    private static let choice = Choice()

    /// The best level this CPU supports.
    public static var cpuLevel: Level { Level(ck_cpu_isa()) }

    /// Fills the dispatch table with the best level at or below `cap` and returns it. Calling it
    /// again with a cap that gives the same level is harmless.
    /// - Throws: `.invalidArgument` if the kernels already run at another level (the level is
    ///   chosen once per process: select it before the first network is built).
    @discardableResult
    public static func select(cap: Level) throws -> Level {
        choice.lock.lock()
        defer { choice.lock.unlock() }
        let wanted = min(cap, cpuLevel)
        if let level = choice.level {
            guard level == wanted else {
                throw GaussianADError.invalidArgument("the kernels already run at \(level.rawValue); choose the level (\(wanted.rawValue)) before the first network is built")
            }
            return level
        }
        let level = Level(ck_dispatch_init(cap.isa))
        choice.level = level
        return level
    }

    /// Stops the BLAS library's idle threads (OpenBLAS's spin about 0.1 s after it loads, on the
    /// cores the network needs at start-up); its next multi-threaded call starts them again.
    /// Returns whether it could. Call it at a program's start, before any other thread can be
    /// inside a BLAS call: the command-line tool does, first thing.
    @discardableResult
    public static func releaseIdleBLASThreads() -> Bool { ck_blas_release_idle_threads() == 1 }

    /// The cap that `GAUSSIAN_AD_KERNELS` asks for in `env` (`portable`, `avx2` or `avx512f`, any
    /// case), nil where it is unset or empty.
    /// - Throws: `.invalidArgument` naming the variable when it holds anything else.
    public static func cap(fromEnvironment env: [String: String]) throws -> Level? {
        guard let s = env["GAUSSIAN_AD_KERNELS"], !s.isEmpty else { return nil }
        guard let level = Level(rawValue: s.lowercased()) else {
            throw GaussianADError.invalidArgument("GAUSSIAN_AD_KERNELS must be portable, avx2 or avx512f, got '\(s)'")
        }
        return level
    }

    /// Selects the cap that `GAUSSIAN_AD_KERNELS` asks for in `env`, if it asks for one: what a
    /// program that honours the variable calls where it starts.
    /// - Throws: `.invalidArgument` for a value that is not a level, or (from `select(cap:)`)
    ///   when the kernels already run at another level.
    public static func select(fromEnvironment env: [String: String]) throws {
        if let cap = try cap(fromEnvironment: env) { try select(cap: cap) }
    }

    /// Makes sure the dispatch table is filled (at the CPU's best level unless `select(cap:)`
    /// came first) and returns the active level's name; cheap after the first call.
    @discardableResult
    public static func ensureInitialised() -> String {
        choice.lock.lock()
        defer { choice.lock.unlock() }
        if let level = choice.level { return level.rawValue }
        let level = Level(ck_dispatch_init(CK_ISA_AVX512))
        choice.level = level
        return level.rawValue
    }

    /// The name of the active kernel level: "portable", "avx2" or "avx512f".
    public static var activeLevel: String { ensureInitialised() }
}
