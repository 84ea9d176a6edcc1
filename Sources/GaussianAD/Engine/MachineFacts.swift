// What the planner may know of the machine: instruction set, cache sizes, cores, model name.
// Read once per process (CPUID, with Linux's sysfs as the fallback for a size CPUID leaves out).
import CKernels
import Foundation

/// The facts of this machine that every size threshold of the planner derives from.
///
///     let m = MachineFacts.current
///     print(m.summary)   // "Intel(R) Xeon(R) Processor, avx512f, L1d 48 KiB, L2 2 MiB, L3 105 MiB, 2 cores"
///
/// `kernels` is the level the kernels run at (the CPU's, or lower where `GAUSSIAN_AD_KERNELS`
/// caps it); a plan or a tuning entry belongs to the facts and the level together.
public struct MachineFacts: Sendable, Codable, Equatable {
    /// The CPU's model name (CPUID brand string, else /proc/cpuinfo's), "unknown" if neither says.
    public var model: String
    /// The best instruction set the CPU supports: "portable", "avx2" or "avx512f".
    public var isa: String
    /// The level the kernels run at in this process (at most `isa`).
    public var kernels: String
    /// Bytes of one core's L1 data cache, L2 and of the L3 (0 where nothing says).
    public var l1dBytes: Int, l2Bytes: Int, l3Bytes: Int
    /// Cores (logical processors) this process may run on.
    public var cores: Int

    /// Creates facts by hand (tests and tuning files); `current` reads them from the machine.
    public init(model: String, isa: String, kernels: String, l1dBytes: Int, l2Bytes: Int, l3Bytes: Int, cores: Int) {
        self.model = model
        self.isa = isa
        self.kernels = kernels
        self.l1dBytes = l1dBytes
        self.l2Bytes = l2Bytes
        self.l3Bytes = l3Bytes
        self.cores = cores
    }

    /// This machine, read once: CPUID first, sysfs where CPUID gives no size.
    public static let current: MachineFacts = {
        let kernels = Kernels.ensureInitialised()
        var info = ck_cpu_info()
        ck_cpu_info_read(&info)
        let brand = withUnsafeBytes(of: info.model) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let sys = sysfsCaches()
        func pick(_ cpuid: Int, _ level: String) -> Int { cpuid > 0 ? cpuid : sys[level] ?? 0 }
        return MachineFacts(model: brand.isEmpty ? procModelName() ?? "unknown" : brand,
                            isa: String(cString: ck_isa_name(info.isa)), kernels: kernels,
                            l1dBytes: pick(info.l1d_bytes, "L1d"), l2Bytes: pick(info.l2_bytes, "L2"),
                            l3Bytes: pick(info.l3_bytes, "L3"), cores: ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// L2 bytes per core for planning: the measured size, or 256 KiB (the smallest L2 of an
    /// AVX2-era core) when nothing could be read.
    public var planningL2Bytes: Int { l2Bytes > 0 ? l2Bytes : 256 << 10 }
    /// L1d bytes for planning, 32 KiB when unknown.
    public var planningL1dBytes: Int { l1dBytes > 0 ? l1dBytes : 32 << 10 }

    /// One line for people: model, ISA (and the kernels' level where lower), caches, cores.
    public var summary: String {
        let level = kernels == isa ? isa : "\(isa) (kernels capped at \(kernels))"
        return "\(model), \(level), L1d \(Self.size(l1dBytes)), L2 \(Self.size(l2Bytes)), L3 \(Self.size(l3Bytes)), \(cores) cores"
    }

    /// A key that names these facts in a tuning file.
    public var key: String { "\(model)|\(isa)|\(kernels)|\(l1dBytes)|\(l2Bytes)|\(l3Bytes)|\(cores)" }

    /// A byte count for people: "48 KiB", "2 MiB", "unknown".
    public static func size(_ bytes: Int) -> String {
        bytes <= 0 ? "unknown" : bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
    }

    /// Cache sizes of cpu0 from /sys/devices/system/cpu/cpu0/cache (Linux), by "L1d", "L2", "L3".
    static func sysfsCaches() -> [String: Int] {
        var out: [String: Int] = [:]
        let base = "/sys/devices/system/cpu/cpu0/cache"
        for i in 0..<8 {
            let dir = "\(base)/index\(i)"
            func read(_ f: String) -> String? {
                (try? String(contentsOfFile: "\(dir)/\(f)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let level = read("level"), let type = read("type"), let size = read("size") else { continue }
            if type == "Instruction" { continue }
            var digits = size, unit = 1
            if digits.hasSuffix("K") { unit = 1 << 10; digits.removeLast() } else if digits.hasSuffix("M") { unit = 1 << 20; digits.removeLast() }
            guard let v = Int(digits), v > 0, v < 1 << 20 else { continue }
            out[level == "1" ? "L1d" : "L\(level)"] = v * unit
        }
        return out
    }

    /// The first "model name" line of /proc/cpuinfo.
    static func procModelName() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") { return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }
}
