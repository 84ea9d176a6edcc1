// `gaussian-ad-bench scale`: the one-machine fit on a generated folder of many small images,
// timed as a whole process with its peak resident memory.
import Foundation
import GaussianAD
#if canImport(Glibc)
import Glibc
#endif

enum ScaleBench {
    /// Writes `count` small PNGs (`size` x `size`, smooth patterns with noise, a different one
    /// per image) into `dir/good`, skipping the files already there.
    static func generate(_ dir: URL, count: Int, size: Int) throws {
        let good = dir.appendingPathComponent("good")
        try FileManager.default.createDirectory(at: good, withIntermediateDirectories: true)
        let existing = Set((try? FileManager.default.contentsOfDirectory(atPath: good.path)) ?? [])
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        for i in 0..<count {
            let name = String(format: "%06d.png", i)
            if existing.contains(name) { continue }
            let fx = Float(i % 17) / 17 * 6, fy = Float(i % 29) / 29 * 6, phase = Float(i % 101) / 101 * 6.28
            var px = [Float](repeating: 0, count: size * size * 3)
            for y in 0..<size {
                for x in 0..<size {
                    for c in 0..<3 {
                        state = state &* 6364136223846793005 &+ 1442695040888963407
                        let noise = Float(state >> 40) / Float(1 << 24) * 0.2
                        let v = 0.5 + 0.3 * sin(fx * Float(x) / Float(size) + fy * Float(y) / Float(size) + phase + Float(c))
                        px[(y * size + x) * 3 + c] = min(1, max(0, v + noise - 0.1))
                    }
                }
            }
            try Data(PNGEncoder.encode(width: size, height: size, rgb: px)).write(to: good.appendingPathComponent(name))
        }
    }

    static func run() throws {
        let count = Int(arg("--images", "100000")) ?? 100_000
        let size = Int(arg("--size", "64")) ?? 64
        let dir = URL(fileURLWithPath: arg("--dir", FileManager.default.temporaryDirectory.appendingPathComponent("gad-scale-\(count)").path))
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let tool = URL(fileURLWithPath: arg("--tool", me.deletingLastPathComponent().appendingPathComponent("gaussian-ad").path))
        let t0 = now()
        try generate(dir, count: count, size: size)
        print(String(format: "data         %d images of %dx%d in %@ (%.0f s to generate)", count, size, size, dir.path, now() - t0))
        let model = dir.appendingPathComponent("model.gad")
        var args = ["fit", dir.path, "-o", model.path, "--threads", arg("--threads", "2"), "--levels", arg("--levels", "0-8")]
        if arg("--max-memory", "") != "" { args += ["--max-memory", arg("--max-memory", "")] }
        let p = Process()
        p.executableURL = tool
        p.arguments = args
        let t1 = now()
        try p.run()
        p.waitUntilExit()
        let seconds = now() - t1
        var u = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &u)
        let rss = Double(u.ru_maxrss) / 1024
        guard p.terminationStatus == 0 else { throw GaussianADError.invalidArgument("gaussian-ad fit exited with \(p.terminationStatus)") }
        print(String(format: "fit          %.1f s wall (%.1f images/s), peak RSS %.0f MiB", seconds, Double(count) / seconds, rss))
        print("command      \(tool.path) \(args.joined(separator: " "))")
        writeJSON(["images": count, "size": size, "seconds": seconds, "peak_rss_mib": rss])
    }
}
