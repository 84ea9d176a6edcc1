// The fuzz targets over the file parsers: one function each, shared by libFuzzer and replay.
import Foundation
import GaussianAD

/// A parser that takes bytes from a file. Each target must return normally for any input:
/// errors are expected, a trap, crash or hang is a defect.
enum FuzzTarget: String, CaseIterable {
    case checkpoint, safetensors, modelfile, png, jpeg

    /// Limits kept small while fuzzing so that each run stays fast; the bounding logic is the
    /// same at any size.
    static let limits = InputLimits(maxImagePixels: 1 << 22, maxTensorBytes: 1 << 26, maxPickleDepth: 100,
                                    maxPickleMarks: 1000, maxModelSectionBytes: 1 << 26)

    /// Runs one input; returns true if it parsed.
    @discardableResult
    func run(_ bytes: [UInt8]) -> Bool {
        switch self {
        case .checkpoint:
            // Both PyTorch containers; the first byte picks one, the rest is the file.
            guard let first = bytes.first else { return false }
            let format: Checkpoint.Format = first & 1 == 0 ? .torchZip : .torchLegacy
            return (try? Checkpoint.parse(bytes: Array(bytes.dropFirst()), name: "fuzz.pth", format: format,
                                          limits: Self.limits)) != nil
        case .safetensors:
            return (try? Checkpoint.parse(bytes: bytes, name: "fuzz.safetensors", format: .safetensors,
                                          limits: Self.limits)) != nil
        case .modelfile:
            // The input is a model file, a fit in progress or a fit part without its checksum:
            // the checksum is appended here so that mutations reach the validation behind it.
            let file = bytes + SHA256.digest(bytes)
            let model = (try? ModelFile.decode(file, name: "fuzz.gad", limits: Self.limits)) != nil
            let state = (try? FitState.decode(file, name: "fuzz.gad", limits: Self.limits)) != nil
            let part = (try? FitPart.decode(file, name: "fuzz.gadpart", limits: Self.limits)) != nil
            return model || state || part
        case .png, .jpeg:
            return (try? Image.decode(data: Data(bytes), name: "fuzz.\(rawValue)", limits: Self.limits)) != nil
        }
    }
}
