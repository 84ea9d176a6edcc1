// `gaussian-ad score`.
import Foundation
import GaussianAD

enum ScoreCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError(description: "not available yet")
    }
}
