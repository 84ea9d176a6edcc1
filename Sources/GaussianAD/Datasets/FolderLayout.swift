// A plain folder layout: good/ plus one folder per defect type, evaluated by folds.
import Foundation

enum FolderLayout {
    static func category(_ dir: URL) throws -> DatasetCategory {
        var items: [DatasetItem] = []
        for t in try Dataset.subfolders(dir) {
            let type = t.lastPathComponent
            for f in try Dataset.images(in: t) {
                items.append(DatasetItem(url: t.appendingPathComponent(f), relativePath: "\(type)/\(f)",
                                         label: type == "good" ? 0 : 1, type: type, isTrain: false))
            }
        }
        guard items.contains(where: { $0.label == 0 }) else {
            throw GaussianADError.badDataset(path: dir.appendingPathComponent("good").path, reason: "empty category: no PNG/JPEG images in good/")
        }
        return DatasetCategory(name: dir.lastPathComponent, root: dir, layout: .folded, items: items)
    }
}
