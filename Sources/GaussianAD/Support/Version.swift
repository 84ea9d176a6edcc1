// The library's version, written into model files.
/// gaussian-ad's version.
public enum GaussianADVersion {
    /// Semantic version string.
    public static let string = "0.1.0"
}
