// The 1000 ImageNet class names shipped with the package, for `classify`.
import Foundation

/// ImageNet-1k class names in index order.
public enum ImageNetClasses {
    /// The names, loaded once from the package resources.
    public static let names: [String] = {
        guard let url = Bundle.module.url(forResource: "imagenet_classes", withExtension: "txt"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
    }()

    /// Name of class `i`, or "class i" when unknown.
    public static func name(_ i: Int) -> String { i >= 0 && i < names.count ? names[i] : "class \(i)" }
}

/// A class index with its softmax probability.
public struct ClassPrediction: Sendable {
    /// ImageNet class index.
    public let index: Int
    /// Human-readable name.
    public let name: String
    /// Softmax probability.
    public let probability: Double
}

extension Backbone {
    /// The `k` most probable ImageNet classes of each image.
    public func classify(_ images: [Image], top k: Int = 5) throws -> [[ClassPrediction]] {
        let logits = try self.logits(for: images)
        let nc = classCount
        return (0..<images.count).map { j in
            let row = logits[(j * nc)..<((j + 1) * nc)].map(Double.init)
            let mx = row.max() ?? 0
            let ex = row.map { Foundation.exp($0 - mx) }
            let total = ex.reduce(0, +)
            return row.indices.sorted { row[$0] > row[$1] }.prefix(k).map {
                ClassPrediction(index: $0, name: ImageNetClasses.name($0), probability: ex[$0] / total)
            }
        }
    }
}
