// The one lister of image files, for the dataset layouts and for `score`'s folders.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Lists the PNG and JPEG files of a folder.
public enum ImageFolder {
    /// Image file extensions read.
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// The image files of `folder` (in its subfolders too when `recursive`), as paths relative
    /// to it with `/` separators, sorted by their UTF-8 bytes. Names starting with a dot (hidden
    /// files and folders) are left out; an entry named like an image that is not a regular file
    /// (a folder, a broken or looping link, a device) is skipped with a warning naming it.
    /// - Throws: `.badDataset` naming a folder that cannot be listed.
    public static func list(_ folder: URL, recursive: Bool, warnings: inout [String]) throws -> [String] {
        var out: [String] = []
        try walk(folder, prefix: "", recursive: recursive, into: &out, warnings: &warnings)
        return FitPlan.sortedBytewise(out)
    }

    private static func walk(_ dir: URL, prefix: String, recursive: Bool, into out: inout [String], warnings: inout [String]) throws {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir.path) } catch {
            throw GaussianADError.badDataset(path: dir.path, reason: "cannot list the folder: \(SystemError.reason(error))")
        }
        for name in names.sorted() where !name.hasPrefix(".") {
            let url = dir.appendingPathComponent(name)
            if extensions.contains((name as NSString).pathExtension.lowercased()) {
                if let why = skipReason(url.path) { warnings.append(why) } else { out.append(prefix + name) }
            } else if recursive, isRealFolder(url.path) {
                try walk(url, prefix: prefix + name + "/", recursive: true, into: &out, warnings: &warnings)
            }
        }
    }

    /// Whether `path` is a folder itself, not a link to one (links are not followed, so a
    /// link loop cannot recurse forever).
    private static func isRealFolder(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Why the image file `path` is skipped (nil: it is a regular file), as a warning naming it.
    public static func skipReason(_ path: String) -> String? {
        SystemError.notARegularFile(path).map { "skipped \(path): \($0)" }
    }
}
