// The ELPV solar-cell set (PyPI elpv-dataset): labels.csv with path, defect probability, type.
import Foundation

/// ELPV: categories `mono` and `poly`; probability 0 normal, 1 anomalous, 0.33/0.67 left out.
public enum ELPVDataset {
    /// Opens `url` (the data folder, or a folder holding `data/`) if it has labels.csv.
    static func openIfPresent(_ url: URL) throws -> Dataset? {
        var dir = url
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("labels.csv").path) {
            dir = url.appendingPathComponent("data")
            guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("labels.csv").path) else { return nil }
        }
        let csv = dir.appendingPathComponent("labels.csv")
        let text = String(decoding: try FileBytes.read(csv, maxBytes: 64 << 20), as: UTF8.self)
        var byCat: [String: [DatasetItem]] = [:]
        for (n, line) in text.split(separator: "\n").enumerated() {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard parts.count == 3, let p = Double(parts[1]) else {
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                throw GaussianADError.badDataset(path: csv.path, reason: "line \(n + 1) is not 'path probability type'")
            }
            guard p == 0 || p == 1 else { continue }
            let rel = String(parts[0]), cat = String(parts[2])
            byCat[cat, default: []].append(DatasetItem(url: dir.appendingPathComponent(rel), relativePath: rel,
                                                       label: p == 1 ? 1 : 0, type: p == 1 ? "defect" : "good", isTrain: false))
        }
        guard !byCat.isEmpty else { throw GaussianADError.badDataset(path: csv.path, reason: "no labelled cells") }
        let cats = byCat.keys.sorted().map { DatasetCategory(name: $0, root: dir, layout: .folded, items: byCat[$0]!.sorted { $0.relativePath < $1.relativePath }) }
        return Dataset(kind: "elpv", root: dir, categories: cats)
    }
}
