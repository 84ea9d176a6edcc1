// How a fit treats training images that may not be normal: `auto` (the documented cut of
// docs/METHOD.md 8) or a fixed fraction of the most suspect images, dropped and refitted.
import Foundation

/// The robust fit's rule for the images it drops (docs/METHOD.md 8).
public enum Contamination: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Drop the suspects of the documented cut: robust z of the out-of-fold score above
    /// `Suspects.cut`.
    case auto
    /// Drop the given fraction (0 < F < 0.5) of the images with the highest out-of-fold scores.
    case fraction(Double)

    /// Parses `auto` or a fraction `F` with 0 < F < 0.5.
    /// - Throws: `.invalidArgument` naming the value.
    public init(parsing text: String) throws {
        if text == "auto" { self = .auto; return }
        guard let f = Double(text), f > 0, f < 0.5 else {
            throw GaussianADError.invalidArgument("--contamination takes auto or a fraction F with 0 < F < 0.5, got '\(text)'")
        }
        self = .fraction(f)
    }

    /// `auto` or the fraction.
    public var description: String {
        switch self {
        case .auto: return "auto"
        case .fraction(let f): return "\(f)"
        }
    }
}
