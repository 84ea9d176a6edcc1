// `gaussian-ad info`.
import Foundation
import GaussianAD

enum InfoCommand {
    static func run(_ args: [String]) throws -> Int32 {
        throw UsageError(description: "not available yet")
    }
}
