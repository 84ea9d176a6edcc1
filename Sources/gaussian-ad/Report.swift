// Placeholder replaced below.
import Foundation
import GaussianAD
enum Report { static func html(_ r: EvaluationResult, dataset: Dataset) throws -> String { "" } }
