// A dataset as categories of labelled images, whatever its folder layout (docs/METHOD.md 6).
import Foundation

/// One image of a dataset.
public struct DatasetItem: Sendable, Equatable {
    /// The image file.
    public let url: URL
    /// Path relative to the category folder with `/` separators (the stable split's key).
    public let relativePath: String
    /// 0 normal, 1 anomalous.
    public let label: Int
    /// "good" or the defect type.
    public let type: String
    /// MVTec: true for `train/good`, false for `test/`. Folded layouts: always false.
    public let isTrain: Bool
    /// MVTec: the ground-truth mask of an anomalous test image (`ground_truth/TYPE/NAME_mask.png`),
    /// when the dataset has it.
    public var mask: URL? = nil
}

/// How a category's images are split into fits and tests.
public enum CategoryLayout: String, Sendable {
    /// MVTec AD: folds over `train/good`, every fold tests on the whole `test/`.
    case mvtec
    /// Every image in a fold, per (category, label) group; fit on the normal images of the other folds.
    case folded
}

/// A category: its name, layout and images.
public struct DatasetCategory: Sendable {
    /// Category name (MVTec category, ELPV mono/poly, or the folder name).
    public let name: String
    /// The folder it was read from.
    public let root: URL
    /// How it is evaluated.
    public let layout: CategoryLayout
    /// Its images, sorted by relative path.
    public let items: [DatasetItem]
    /// Entries of its folders that were skipped, each with the reason (not regular image files).
    public var warnings: [String] = []
    /// MVTec: whether it has a `test/` folder (`fit` does not need one; `evaluate` does).
    public var hasTestFolder = true
    /// Whether every anomalous test image has a ground-truth mask (MVTec layout), so that
    /// anomaly maps can be graded per pixel.
    public var hasMasks: Bool {
        layout == .mvtec && items.contains { !$0.isTrain && $0.label != 0 } && items.allSatisfy { $0.isTrain || $0.label == 0 || $0.mask != nil }
    }

    /// Normal images.
    public var normalCount: Int { items.filter { $0.label == 0 }.count }
    /// Anomalous images.
    public var anomalousCount: Int { items.filter { $0.label != 0 }.count }
    /// The normal images a model of the category is fitted on: MVTec's train/good, every
    /// normal image of the other layouts.
    public var trainingNormals: [DatasetItem] { items.filter { $0.label == 0 && (layout == .folded || $0.isTrain) } }
}

/// A dataset opened from a folder: an MVTec AD root or category, a plain `good/` + defects
/// folder (or a folder of them), or the ELPV data folder.
///
///     let ds = try Dataset.open(URL(fileURLWithPath: "/data/mvtec"))
///     for c in ds.categories { print(c.name, c.items.count) }
public struct Dataset: Sendable {
    /// Layout name: "mvtec", "folder" or "elpv".
    public let kind: String
    /// The folder given.
    public let root: URL
    /// Categories, sorted by name.
    public let categories: [DatasetCategory]
    /// Every category's skipped entries, one message each, naming the entry.
    public var warnings: [String] { categories.flatMap(\.warnings) }

    /// Detects the layout of `url` and lists its images.
    /// - Throws: `.badDataset` naming the folder and what was expected.
    public static func open(_ url: URL) throws -> Dataset {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
            throw GaussianADError.badDataset(path: url.path, reason: "no such folder")
        }
        if let elpv = try ELPVDataset.openIfPresent(url) { return elpv }
        if isDirectory(url.appendingPathComponent("train")) || isDirectory(url.appendingPathComponent("test")) {
            return Dataset(kind: "mvtec", root: url, categories: [try MVTecLayout.category(url)])
        }
        if isDirectory(url.appendingPathComponent("good")) {
            return Dataset(kind: "folder", root: url, categories: [try FolderLayout.category(url)])
        }
        let subs = try subfolders(url)
        var cats: [DatasetCategory] = []
        if !subs.contains(where: { isDirectory($0.appendingPathComponent("train")) || isDirectory($0.appendingPathComponent("good")) }) {
            var warnings: [String] = []
            let names = try images(in: url, warnings: &warnings)
            if !names.isEmpty { return Dataset(kind: "folder", root: url, categories: [FolderLayout.allGood(url, names: names, warnings: warnings)]) }
        }
        var kind = ""
        for s in subs {
            if isDirectory(s.appendingPathComponent("train")) {
                cats.append(try MVTecLayout.category(s)); kind = "mvtec"
            } else if isDirectory(s.appendingPathComponent("good")) {
                cats.append(try FolderLayout.category(s)); kind = kind.isEmpty ? "folder" : kind
            }
        }
        guard !cats.isEmpty else {
            throw GaussianADError.badDataset(path: url.path, reason: "no category found: expected MVTec AD folders (CATEGORY/train/good, CATEGORY/test/TYPE), a folder with good/ and one folder per defect type, a folder of good images, or the ELPV data folder (labels.csv, images/)")
        }
        return Dataset(kind: kind, root: url, categories: cats)
    }

    /// Keeps only the named categories.
    public func selecting(_ names: [String]) throws -> Dataset {
        guard !names.isEmpty else { return self }
        let known = Set(categories.map(\.name))
        for n in names where !known.contains(n) {
            throw GaussianADError.badDataset(path: root.path, reason: "no category '\(n)' (found: \(categories.map(\.name).joined(separator: ", ")))")
        }
        return Dataset(kind: kind, root: root, categories: categories.filter { names.contains($0.name) })
    }

    static func isDirectory(_ u: URL) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: u.path, isDirectory: &d) && d.boolValue
    }

    static func subfolders(_ u: URL) throws -> [URL] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: u.path) } catch {
            throw GaussianADError.badDataset(path: u.path, reason: "cannot list the folder: \(SystemError.reason(error))")
        }
        return names.filter { !$0.hasPrefix(".") }.sorted().map { u.appendingPathComponent($0) }.filter { isDirectory($0) }
    }

    /// Image files directly in `u`, sorted (`ImageFolder.list`).
    static func images(in u: URL, warnings: inout [String]) throws -> [String] {
        try ImageFolder.list(u, recursive: false, warnings: &warnings)
    }
}
