// gaussian-ad-bench: throughput of the feature engine and the Gaussian model.
//
//   gaussian-ad-bench engine [--backbone lite0] [--batch 16] [--threads 2] [--rounds 7]
//   gaussian-ad-bench gaussian [--images 10000] [--dim 2096] [--levels 9]
//
// Prints medians over rounds after one warm-up; --json FILE writes them too.
import CKernels
import Dispatch
import Foundation
import GaussianAD

func arg(_ name: String, _ def: String) -> String {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count { return a[i + 1] }
    return def
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func writeJSON(_ obj: [String: Any]) {
    let path = arg("--json", "")
    guard !path.isEmpty, let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { return }
    try? d.write(to: URL(fileURLWithPath: path))
}

func benchEngine() throws {
    let kind = BackboneKind(name: arg("--backbone", "lite0")) ?? .efficientNetLite0
    let batch = Int(arg("--batch", "16")) ?? 16
    let threads = Int(arg("--threads", "2")) ?? 2
    let rounds = Int(arg("--rounds", "7")) ?? 7
    let net = try Backbone.load(kind, threads: threads)
    let S = kind.inputSize
    var rng = UInt64(1)
    let input = (0..<(batch * S * S * 3)).map { _ -> Float in
        rng = rng &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: rng >> 11) % 2000) / 1000 - 1
    }
    _ = try net.run(inputs: input, count: batch)
    var rates: [Double] = []
    for _ in 0..<rounds {
        let t0 = now()
        _ = try net.run(inputs: input, count: batch)
        rates.append(Double(batch) / (now() - t0))
    }
    let m = median(rates)
    print(String(format: "gaussian-ad %@  kernels %@  batch %d  threads %d  %.1f images/s (median of %d)",
                 kind.rawValue, Kernels.activeLevel, batch, threads, m, rounds))
    writeJSON(["backbone": kind.rawValue, "kernels": Kernels.activeLevel, "batch": batch, "threads": threads,
               "images_per_second": m, "rounds": rates])
}

do {
    Kernels.ensureInitialised()
    switch CommandLine.arguments.dropFirst().first ?? "engine" {
    case "engine": try benchEngine()
    case "gaussian": try GaussianBench.run()
    case "kernels": KernelBench.run()
    default:
        print("usage: gaussian-ad-bench engine|gaussian|kernels [options]")
        exit(2)
    }
} catch {
    FileHandle.standardError.write("gaussian-ad-bench: \(error)\n".data(using: .utf8)!)
    exit(1)
}
