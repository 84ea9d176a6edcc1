// The cache folder: where set-up puts weights and data, and where `tune` writes its plans.
import Foundation

/// The folder that holds the published weights, the ELPV data and the tuning file, laid out as
/// `scripts/setup` fills it: `weights/<file>`, `elpv/data`, `tuning.json`. The library takes
/// it as a value and reads no environment; a program decides where it is (the CLI takes
/// `$GAUSSIAN_AD_HOME`, else `~/.cache/gaussian-ad`).
///
///     let cache = CacheFolder.fromEnvironment(ProcessInfo.processInfo.environment)
///     let net = try Backbone.load(.efficientNetLite0, cache: cache)
public struct CacheFolder: Sendable, Equatable {
    /// The folder.
    public var url: URL

    /// The cache folder at `url`.
    public init(_ url: URL) { self.url = url }

    /// `~/.cache/gaussian-ad`.
    public static var standard: CacheFolder {
        CacheFolder(FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/gaussian-ad"))
    }

    /// `$GAUSSIAN_AD_HOME` in `env` where it is set and not empty, else `standard`.
    public static func fromEnvironment(_ env: [String: String]) -> CacheFolder {
        if let h = env["GAUSSIAN_AD_HOME"], !h.isEmpty { return CacheFolder(URL(fileURLWithPath: h)) }
        return standard
    }

    /// Where set-up puts a backbone's published weights (Lite), or where a user puts them.
    public func weights(for kind: BackboneKind) -> URL {
        url.appendingPathComponent("weights").appendingPathComponent(kind.weightsFileName)
    }

    /// The tuning file `gaussian-ad tune` writes and every network-running command reads.
    public var tuningFile: URL { url.appendingPathComponent("tuning.json") }

    /// The ELPV data folder set-up unpacks (`images/`, `labels.csv`).
    public var elpvData: URL { url.appendingPathComponent("elpv/data") }
}
