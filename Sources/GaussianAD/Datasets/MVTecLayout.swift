// The MVTec AD layout: CATEGORY/train/good, CATEGORY/test/<type>, and the masks of the
// anomalous test images in CATEGORY/ground_truth/<type>/<name>_mask.png.
import Foundation

enum MVTecLayout {
    static func category(_ dir: URL) throws -> DatasetCategory {
        let trainGood = dir.appendingPathComponent("train/good")
        guard Dataset.isDirectory(trainGood) else {
            throw GaussianADError.badDataset(path: trainGood.path, reason: "missing: an MVTec AD category needs train/good with normal images")
        }
        var warnings: [String] = []
        var items: [DatasetItem] = try Dataset.images(in: trainGood, warnings: &warnings).map {
            DatasetItem(url: trainGood.appendingPathComponent($0), relativePath: "train/good/" + $0, label: 0, type: "good", isTrain: true)
        }
        guard !items.isEmpty else {
            throw GaussianADError.badDataset(path: trainGood.path, reason: "empty category: no PNG/JPEG images in train/good")
        }
        // test/ is read when present: `fit` needs only train/good, `evaluate` checks for test/.
        let test = dir.appendingPathComponent("test")
        let hasTest = Dataset.isDirectory(test)
        for t in hasTest ? try Dataset.subfolders(test) : [] {
            let type = t.lastPathComponent
            for f in try Dataset.images(in: t, warnings: &warnings) {
                var item = DatasetItem(url: t.appendingPathComponent(f), relativePath: "test/\(type)/\(f)",
                                       label: type == "good" ? 0 : 1, type: type, isTrain: false)
                if type != "good" {
                    let m = dir.appendingPathComponent("ground_truth/\(type)/\((f as NSString).deletingPathExtension)_mask.png")
                    if SystemError.notARegularFile(m.path) == nil { item.mask = m }
                }
                items.append(item)
            }
        }
        return DatasetCategory(name: dir.lastPathComponent, root: dir, layout: .mvtec, items: items, warnings: warnings,
                               hasTestFolder: hasTest)
    }
}
