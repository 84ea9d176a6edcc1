// `gaussian-ad classify`: top-5 ImageNet classes of images, to check a backbone end to end.
import Foundation
import GaussianAD

enum ClassifyCommand {
    static let help = """
    Usage: gaussian-ad classify IMAGE... [--backbone NAME] [--weights FILE]

    Prints the five most probable ImageNet classes of each image with their probabilities.

    """ + Options.backboneHelp + Options.limitsHelp

    static func run(_ args: [String]) throws -> Int32 {
        let o = try Options(args, valued: ["--backbone", "--weights", "--max-image-pixels", "--threads"], flags: ["-h", "--help"])
        if o.has("-h") || o.has("--help") { try printOutput(help); return 0 }
        guard !o.positionals.isEmpty else { throw UsageError(description: "no image given\n\n" + help) }
        let limits = try o.limits()
        let net = try o.loadBackbone(try o.backbone(), batch: 1, limits: limits)
        for path in o.positionals {
            let img = try Image.decode(contentsOf: URL(fileURLWithPath: path), limits: limits)
            let preds = try net.classify([img])[0]
            try printOutput(path)
            for p in preds {
                try printOutput(String(format: "  %6.2f%%  %4d  %@", p.probability * 100, p.index, p.name))
            }
        }
        return 0
    }
}
