// The files `score --maps DIR` writes for each image: its anomaly map as a NumPy array and an
// overlay PNG, under names that never collide.
import Dispatch
import Foundation

/// A folder of map files: for each image a float32 `.npy` map at the image's own size and an
/// overlay `.png`, named `STEM-HASH` (the file's stem, then 16 hex digits of the FNV-1a 64 of
/// the path as given), so that images of different folders with one name get two names.
///
///     let files = try MapFiles(folder: URL(fileURLWithPath: "maps"))
///     let written = try files.write(detections, paths: paths, detector: det)
public final class MapFiles: @unchecked Sendable {
    /// The folder.
    public let folder: URL
    private var used: [String: String] = [:]
    private let lock = NSLock()

    /// Throws unless `folder` can hold the files: a folder taking new files, or missing in a
    /// folder that does (nothing is created).
    /// - Throws: `.unwritableFile` naming the folder.
    public static func checkWritable(_ folder: URL) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw GaussianADError.unwritableFile(path: folder.path, reason: "it is not a folder") }
            try AtomicFile.checkWritable(folder.appendingPathComponent("gaussian-ad-probe.npy"))
        } else {
            try AtomicFile.checkWritable(folder)
        }
    }

    /// The folder `folder`, created if missing; checked writable now, before any image.
    /// - Throws: `.unwritableFile` naming the folder.
    public init(folder: URL) throws {
        self.folder = folder
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw GaussianADError.unwritableFile(path: folder.path, reason: "it is not a folder") }
        } else {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                throw GaussianADError.unwritableFile(path: folder.path, reason: "cannot create the folder: \(error.localizedDescription)")
            }
        }
        try AtomicFile.checkWritable(folder.appendingPathComponent("gaussian-ad-probe.npy"))
        AtomicFile.removeStaleTemporaries(in: folder)
    }

    /// The name (without extension) of `path`'s files: unique among the paths of this run.
    public func name(for path: String) -> String {
        let stem = (((path as NSString).lastPathComponent) as NSString).deletingPathExtension
        var safe = String(stem.unicodeScalars.map { c -> Character in
            (c.isASCII && (CharacterSet.alphanumerics.contains(c) || "._-".unicodeScalars.contains(c))) ? Character(c) : "_"
        }.prefix(64))
        if safe.isEmpty || safe.hasPrefix(".") { safe = "image" + safe }
        let base = safe + "-" + String(format: "%016llx", StableSplit.fnv1a64(path.utf8))
        lock.lock()
        defer { lock.unlock() }
        var name = base, k = 2
        while let other = used[name], other != path {
            name = "\(base)-\(k)"
            k += 1
        }
        used[name] = path
        return name
    }

    /// The bytes of one image's two files, named.
    public struct Encoded: Sendable {
        /// The `.npy` map and the `.png` overlay, and where they go.
        public let map: [UInt8], overlay: [UInt8], mapURL: URL, overlayURL: URL
    }

    /// Each detection's map as `.npy` bytes and its overlay as PNG bytes (drawn over the image the
    /// detection kept, or over the file at `paths` read again), on the network's threads (nil
    /// for a failed detection).
    /// - Throws: the first image that cannot be read again.
    public func encode(_ detections: [Result<Detection, Error>], paths: [String], detector: Detector) throws -> [Encoded?] {
        let n = detections.count
        let names = paths.map { name(for: $0) }
        let out = Slots<Encoded?>(count: n, nil)
        let errors = ErrorSlots(count: n)
        let (low, high) = detector.overlayRange
        let threshold = detector.file.maps?.pixelThreshold
        let limits = detector.extractor.limits
        let folder = self.folder
        // On the network's own threads, as its maps were made.
        detector.extractor.backbone.forEach(n) { i, _ in
            guard case .success(let d) = detections[i], let map = d.map else { return }
            do {
                let image = try d.image ?? Image.decode(contentsOf: URL(fileURLWithPath: paths[i]), limits: limits)
                guard image.width == map.width, image.height == map.height else {
                    throw GaussianADError.badImage(path: paths[i], reason: "it changed while it was scored (\(image.width) x \(image.height), was \(map.width) x \(map.height))")
                }
                out[i] = Encoded(map: NPYFile.encode(map.values, shape: [map.height, map.width]),
                                 overlay: Overlay.png(image: image, map: map, low: low, high: high,
                                                      threshold: d.regions.isEmpty ? nil : threshold),
                                 mapURL: folder.appendingPathComponent(names[i] + ".npy"),
                                 overlayURL: folder.appendingPathComponent(names[i] + ".png"))
            } catch {
                errors[i] = error
            }
        }
        if let e = errors.all.compactMap({ $0 }).first { throw e }
        return out.all
    }

    /// Writes encoded files, each atomically (never half-written) but not flushed one by one:
    /// hundreds of maps a minute. Returns where each went.
    /// - Throws: the first file that cannot be written, naming it.
    public static func save(_ files: [Encoded?]) throws -> [(map: URL, overlay: URL)?] {
        try files.map { f in
            guard let f else { return nil }
            try AtomicFile.write(f.map, to: f.mapURL, durable: false)
            try AtomicFile.write(f.overlay, to: f.overlayURL, durable: false)
            return (f.mapURL, f.overlayURL)
        }
    }

    /// Encodes and saves each detection's map and overlay (`encode`, then `save`).
    public func write(_ detections: [Result<Detection, Error>], paths: [String], detector: Detector) throws -> [(map: URL, overlay: URL)?] {
        try Self.save(try encode(detections, paths: paths, detector: detector))
    }
}
