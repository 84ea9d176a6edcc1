// Bounds on what an input file may make the library parse or allocate, visible and settable.
import Foundation

/// Limits applied to every image, checkpoint and model file before anything sized by the file
/// is allocated. Each has a default, an environment variable, and (in the CLI) an option:
///
/// | limit | default | environment variable |
/// |---|---|---|
/// | `maxImagePixels` | 89,478,485 (Pillow's guard) | `GAUSSIAN_AD_MAX_IMAGE_PIXELS` |
/// | `maxTensorBytes` | 1 GiB | `GAUSSIAN_AD_MAX_TENSOR_BYTES` |
/// | `maxPickleDepth` | 100 nested containers | `GAUSSIAN_AD_MAX_PICKLE_DEPTH` |
/// | `maxPickleMarks` | 1,000 open MARKs | `GAUSSIAN_AD_MAX_PICKLE_MARKS` |
/// | `maxModelSectionBytes` | 1 GiB | `GAUSSIAN_AD_MAX_MODEL_SECTION_BYTES` |
///
///     var limits = try InputLimits.fromEnvironment()
///     limits.maxImagePixels = 200_000_000          // a very large line-scan image
///     let img = try Image.decode(contentsOf: url, limits: limits)
public struct InputLimits: Sendable, Equatable {
    /// Largest image, in pixels (width x height), that is decoded.
    public var maxImagePixels: Int
    /// Largest tensor, in bytes once materialised, that a checkpoint may hold.
    public var maxTensorBytes: Int
    /// Deepest nesting of containers (tuples, lists, dicts) in a checkpoint's pickle.
    public var maxPickleDepth: Int
    /// Most MARKs open at once in a checkpoint's pickle.
    public var maxPickleMarks: Int
    /// Largest section (JSON header or array block) of a model file, in bytes.
    public var maxModelSectionBytes: Int

    /// The built-in defaults.
    public static let builtIn = InputLimits(maxImagePixels: 89_478_485, maxTensorBytes: 1 << 30,
                                            maxPickleDepth: 100, maxPickleMarks: 1000,
                                            maxModelSectionBytes: 1 << 30)

    /// The defaults the library's functions take: the built-in ones. The library never reads the
    /// environment; a program that honours the variables (the CLI does) calls
    /// `fromEnvironment()` once where it starts and passes the result.
    public static let `default` = builtIn

    /// Creates limits; every value must be positive.
    public init(maxImagePixels: Int, maxTensorBytes: Int, maxPickleDepth: Int, maxPickleMarks: Int,
                maxModelSectionBytes: Int) {
        self.maxImagePixels = maxImagePixels
        self.maxTensorBytes = maxTensorBytes
        self.maxPickleDepth = maxPickleDepth
        self.maxPickleMarks = maxPickleMarks
        self.maxModelSectionBytes = maxModelSectionBytes
    }

    /// Environment variable of each limit, in the order of the table above.
    static var variables: [(name: String, key: WritableKeyPath<InputLimits, Int>)] { [
        ("GAUSSIAN_AD_MAX_IMAGE_PIXELS", \.maxImagePixels),
        ("GAUSSIAN_AD_MAX_TENSOR_BYTES", \.maxTensorBytes),
        ("GAUSSIAN_AD_MAX_PICKLE_DEPTH", \.maxPickleDepth),
        ("GAUSSIAN_AD_MAX_PICKLE_MARKS", \.maxPickleMarks),
        ("GAUSSIAN_AD_MAX_MODEL_SECTION_BYTES", \.maxModelSectionBytes),
    ] }

    /// The built-in defaults overridden by any of the environment variables that is set.
    /// - Throws: `.invalidArgument` naming a variable that is not a positive whole number.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> InputLimits {
        var l = builtIn
        for (name, key) in variables {
            guard let s = env[name], !s.isEmpty else { continue }
            l[keyPath: key] = try parse(s, name: name)
        }
        return l
    }

    /// A positive whole number (underscores allowed: `200_000_000`), or an error naming `name`.
    /// A byte size with an optional K, M or G suffix (powers of 1024), e.g. "512M".
    public static func parseBytes(_ s: String, name: String) throws -> Int {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = s.uppercased().replacingOccurrences(of: "_", with: "")
        if digits.hasSuffix("B") { digits.removeLast() }
        var unit = 1
        if let last = digits.last, let u = units[last] { unit = u; digits.removeLast() }
        guard let v = Int(digits), v > 0, let bytes = Checked.mul(v, unit) else {
            throw GaussianADError.invalidArgument("\(name) must be a positive size such as 800M or 2G, got '\(s)'")
        }
        return bytes
    }

    /// A positive whole number (underscores allowed).
    public static func parse(_ s: String, name: String) throws -> Int {
        guard let v = Int(s.replacingOccurrences(of: "_", with: "")), v > 0 else {
            throw GaussianADError.invalidArgument("\(name) must be a positive whole number, got '\(s)'")
        }
        return v
    }
}
