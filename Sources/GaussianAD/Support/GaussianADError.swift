// The typed errors of the library, each with a message a person can act on.
import Foundation

/// Everything the library can fail with. `description` names the file or tensor involved
/// and what to do about it.
public enum GaussianADError: Error, CustomStringConvertible, Equatable {
    /// A file could not be read at all (missing, permissions).
    case unreadableFile(path: String, reason: String)
    /// A file could not be written (missing folder, full disk, permissions, a folder in the way).
    case unwritableFile(path: String, reason: String)
    /// An image file is not a PNG/JPEG we can decode, or is truncated or corrupt.
    case badImage(path: String, reason: String)
    /// A checkpoint (weights) file is malformed, truncated, or holds something we refuse.
    case badCheckpoint(path: String, reason: String)
    /// A checkpoint is well formed but does not match the architecture asked for.
    case weightsMismatch(path: String, tensor: String, reason: String)
    /// A model file (.gad) is malformed, truncated, corrupt, or from another version/backbone.
    case badModelFile(path: String, reason: String)
    /// A dataset folder has the wrong layout or an empty category.
    case badDataset(path: String, reason: String)
    /// Arguments that do not make sense together (dimensions, empty input, ...).
    case invalidArgument(String)
    /// Numerical failure (e.g. a covariance that is not positive definite).
    case numerical(String)
    /// The weights for a backbone are not in the cache folder.
    case missingWeights(backbone: String, expected: String)

    public var description: String {
        switch self {
        case .unreadableFile(let p, let r): return "cannot read \(p): \(r)"
        case .unwritableFile(let p, let r): return "cannot write \(p): \(r)"
        case .badImage(let p, let r): return "\(p): not a readable image: \(r)"
        case .badCheckpoint(let p, let r): return "\(p): not a usable PyTorch/safetensors checkpoint: \(r)"
        case .weightsMismatch(let p, let t, let r): return "\(p): tensor '\(t)': \(r)"
        case .badModelFile(let p, let r): return "\(p): not a usable gaussian-ad model file: \(r)"
        case .badDataset(let p, let r): return "\(p): \(r)"
        case .invalidArgument(let m): return m
        case .numerical(let m): return m
        case .missingWeights(let b, let e):
            if b.hasPrefix("efficientnet-lite") {
                return "weights for \(b) not found at \(e); run scripts/setup (or set GAUSSIAN_AD_HOME)"
            }
            return "weights for \(b) not found at \(e); download the published file (docs/METHOD.md lists the sources) and put it there, or give --weights FILE"
        }
    }
}

extension GaussianADError: LocalizedError {
    public var errorDescription: String? { description }
}
