// Entry point: libFuzzer's callback when built for fuzzing, otherwise a replay tool.
import Foundation

#if FUZZING
/// The target, chosen by GAUSSIAN_AD_FUZZ_TARGET (scripts/fuzz sets it).
private let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["GAUSSIAN_AD_FUZZ_TARGET"] ?? ""
    guard let t = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("GAUSSIAN_AD_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue))\n".utf8))
        exit(2)
    }
    return t
}()

/// libFuzzer's driver (from the runtime that -sanitize=fuzzer links); SwiftPM names the
/// executable's entry point itself, so main hands control to the driver here.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
enum FuzzMain {
    static func main() {
        _ = target
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            target.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        })
    }
}
#else
/// `gaussian-ad-fuzz TARGET FILE|DIR...`: runs every input through a target without libFuzzer
/// (to reproduce a crash, or to replay a corpus); prints how many parsed.
@main
enum FuzzReplay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: gaussian-ad-fuzz TARGET FILE|DIR...\ntargets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: " "))")
            exit(2)
        }
        var files: [String] = []
        for p in args.dropFirst() {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
                print("no such file or folder: \(p)"); exit(2)
            }
            if isDir.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: p)) ?? []
                files += names.sorted().map { p + "/" + $0 }
            } else {
                files.append(p)
            }
        }
        var parsed = 0
        for f in files {
            guard let d = FileManager.default.contents(atPath: f) else { print("unreadable: \(f)"); exit(2) }
            if target.run([UInt8](d)) { parsed += 1 }
        }
        print("\(target.rawValue): \(files.count) inputs replayed, \(parsed) parsed, none crashed")
    }
}
#endif
