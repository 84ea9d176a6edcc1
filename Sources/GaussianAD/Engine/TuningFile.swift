// The tuning file: plans measured on this machine by `gaussian-ad tune` (FFTW's "wisdom"), kept
// under the cache folder and keyed by the machine's facts, backbone, input size, batch and
// threads. It is untrusted input: anything wrong with it costs speed, never an error.
import Foundation

/// One measured plan: what it was measured for, the options, and the rates it measured.
public struct TuningEntry: Sendable, Codable, Equatable {
    /// The machine it was measured on (facts and kernel level).
    public var machine: MachineFacts
    /// Backbone name (`BackboneKind.rawValue`) and its input size.
    public var backbone: String
    public var inputSize: Int
    /// Batch and thread count it was measured at.
    public var batch: Int
    public var threads: Int
    /// The fastest options found.
    public var options: PlanOptions
    /// Images/s of the tuned and of the heuristic plan, measured in the same run.
    public var imagesPerSecond: Double
    public var heuristicImagesPerSecond: Double

    /// Whether this entry is for that network, batch and thread count on that machine.
    public func matches(_ kind: BackboneKind, batch: Int, threads: Int, machine: MachineFacts) -> Bool {
        backbone == kind.rawValue && inputSize == kind.inputSize && self.batch == batch && self.threads == threads
            && self.machine == machine
    }
}

/// The tuning file (`CacheFolder.tuningFile`): a versioned list of `TuningEntry`.
///
///     let url = CacheFolder.standard.tuningFile
///     let (options, warning) = TuningFile.options(for: .efficientNetLite0, batch: 16, threads: 2, url: url)
///     if let warning { print(warning) }        // a corrupt, foreign or stale file: ignored
///     let net = try Backbone.load(.efficientNetLite0, threads: 2, plan: options)
public struct TuningFile: Sendable, Codable, Equatable {
    /// What the file says it is; anything else is not read.
    public static let format = "gaussian-ad tuning"
    /// The plan format; files of another version are stale and ignored.
    public static let version = 3
    /// Largest file read (a few hundred entries take some KiB).
    public static let maxBytes = 4 << 20

    public var format: String = TuningFile.format
    public var version: Int = TuningFile.version
    public var entries: [TuningEntry] = []

    /// An empty file.
    public init() {}

    /// Reads a tuning file: nil with no warning when it does not exist; nil and a one-line
    /// warning naming the file when it is unreadable, too large, corrupt or of another version.
    public static func read(_ url: URL) -> (file: TuningFile?, warning: String?) {
        guard FileManager.default.fileExists(atPath: url.path) else { return (nil, nil) }
        func ignored(_ why: String) -> (TuningFile?, String?) {
            (nil, "gaussian-ad: ignoring the tuning file \(url.path): \(why); the heuristic plan is used (run 'gaussian-ad tune' to measure one)")
        }
        let data: Data
        do { data = Data(try FileBytes.read(url, maxBytes: maxBytes)) } catch { return ignored("\(error)") }
        guard let file = try? JSONDecoder().decode(TuningFile.self, from: data) else { return ignored("it is not a tuning file (corrupt JSON)") }
        guard file.format == format else { return ignored("it is not a tuning file (format '\(file.format)')") }
        guard file.version == version else {
            return ignored(file.version < version ? "it was written for plan version \(file.version), this is \(version) (stale)"
                                                  : "it was written by a newer gaussian-ad (plan version \(file.version); this one reads \(version))")
        }
        return (file, nil)
    }

    /// The entry for that network, batch and threads on `machine`, if any is valid.
    public func entry(for kind: BackboneKind, batch: Int, threads: Int, machine: MachineFacts = .current) -> TuningEntry? {
        entries.last { $0.matches(kind, batch: batch, threads: threads, machine: machine) && $0.options.isValid }
    }

    /// The tuned options for that network, batch and threads on this machine, or nil (use the
    /// heuristic plan); the warning says why the file was ignored, if it was.
    public static func options(for kind: BackboneKind, batch: Int, threads: Int, url: URL)
        -> (options: PlanOptions?, warning: String?) {
        let (file, warning) = read(url)
        return (file?.entry(for: kind, batch: batch, threads: threads)?.options, warning)
    }

    /// Replaces the entry with the same key, or adds it.
    public mutating func record(_ e: TuningEntry) {
        entries.removeAll { $0.backbone == e.backbone && $0.inputSize == e.inputSize && $0.batch == e.batch
            && $0.threads == e.threads && $0.machine == e.machine }
        entries.append(e)
    }

    /// Writes the file atomically (temporary sibling, rename), creating the folder.
    public func write(to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(self), to: url)
    }
}
