// Plain folder layouts, evaluated by folds: good/ plus one folder per defect type, or a folder
// of good images alone (enough to fit; evaluate then asks for anomalous images).
import Foundation

enum FolderLayout {
    static func category(_ dir: URL) throws -> DatasetCategory {
        var items: [DatasetItem] = [], warnings: [String] = []
        for t in try Dataset.subfolders(dir) {
            let type = t.lastPathComponent
            for f in try Dataset.images(in: t, warnings: &warnings) {
                items.append(DatasetItem(url: t.appendingPathComponent(f), relativePath: "\(type)/\(f)",
                                         label: type == "good" ? 0 : 1, type: type, isTrain: false))
            }
        }
        guard items.contains(where: { $0.label == 0 }) else {
            throw GaussianADError.badDataset(path: dir.appendingPathComponent("good").path, reason: "empty category: no PNG/JPEG images in good/")
        }
        return DatasetCategory(name: dir.lastPathComponent, root: dir, layout: .folded, items: items, warnings: warnings)
    }

    /// A folder of good images `names` (none anomalous).
    static func allGood(_ dir: URL, names: [String], warnings: [String]) -> DatasetCategory {
        let items = names.map { DatasetItem(url: dir.appendingPathComponent($0), relativePath: $0, label: 0, type: "good", isTrain: false) }
        return DatasetCategory(name: dir.lastPathComponent, root: dir, layout: .folded, items: items, warnings: warnings)
    }
}
