// `gaussian-ad fit`.
import Foundation
import GaussianAD

enum FitCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError(description: "not available yet")
    }
}
