// gaussian-ad-bench: throughput of the feature engine, its kernels and the Gaussian model.
//
//   gaussian-ad-bench machine [--json FILE]
//   gaussian-ad-bench layers [--backbone NAME] [--untuned]   # one image, one thread, step by step
//   gaussian-ad-bench engine [--backbone lite0|b0-b7|resnet18/34/50] [--weights FILE | --formula-weights]
//                            [--batch 16] [--threads 2] [--rounds 9] [--untuned]
//                            [--peer onnxruntime|openvino|all [--pairs 3] [--peer-dir DIR]] [--json FILE]
//   gaussian-ad-bench e2e [--backbone NAME] [--weights FILE] [--data DIR] [--threads 2] [--batch 16]
//                         [--untuned] [--peer onnxruntime|openvino|all] [--json FILE]
//   gaussian-ad-bench kernels
//   gaussian-ad-bench gaussian [--images 10000] [--threads 2]
//   gaussian-ad-bench scale [--images 100000] [--size 64] [--dir DIR] [--threads 2] [--max-memory 1G]
//   gaussian-ad-bench features [--data DIR] [--category NAME] [--backbone NAME] [--map-levels 3,4,5] -o PREFIX
//   gaussian-ad-bench defects --out DIR [--data ELPV] [--type mono] [--seed 1]
//   gaussian-ad-bench maps MODEL.gad IMAGE...     # score --maps step by step, one thread
//
// Prints medians over rounds after one warm-up; --json FILE writes them too, with the machine's
// facts. engine and e2e use the tuning file's plan for the batch and threads when there is one
// (--untuned: the heuristic plan). The peers' scripts (ort_bench.py, ov_bench.py in --peer-dir,
// default ../shared/peers) run with GAUSSIAN_AD_PEER_PYTHON (default python3), which needs
// onnxruntime or openvino, numpy and pillow; pairs alternate ours and each peer.
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

/// The cache folder: `$GAUSSIAN_AD_HOME`, else `~/.cache/gaussian-ad`.
let cache = CacheFolder.fromEnvironment(ProcessInfo.processInfo.environment)

// No other thread exists yet: BLAS's idle threads can stop spinning on the cores the runs need.
Kernels.releaseIdleBLASThreads()
do {
    // GAUSSIAN_AD_KERNELS caps the kernel level, here where the program starts.
    try Kernels.select(fromEnvironment: ProcessInfo.processInfo.environment)
    Kernels.ensureInitialised()
    switch CommandLine.arguments.dropFirst().first ?? "engine" {
    case "machine": EngineBench.machine()
    case "layers": try EngineBench.layers()
    case "engine": try EngineBench.engine()
    case "e2e": try EngineBench.e2e()
    case "gaussian": try GaussianBench.run()
    case "kernels": KernelBench.run()
    case "scale": try ScaleBench.run()
    case "features": try FeatureDump.run()
    case "defects": try FeatureDump.defects()
    case "maps": try MapsBench.run()
    default:
        print("usage: gaussian-ad-bench machine|layers|engine|e2e|kernels|gaussian|scale|features|defects|maps [options]")
        exit(2)
    }
} catch {
    FileHandle.standardError.write("gaussian-ad-bench: \(error)\n".data(using: .utf8)!)
    exit(1)
}
