// `gaussian-ad evaluate`.
import Foundation
import GaussianAD

enum EvaluateCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError(description: "not available yet")
    }
}
