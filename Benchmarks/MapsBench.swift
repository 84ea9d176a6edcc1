// `gaussian-ad-bench maps MODEL IMAGE...`: where the time of `score --maps` goes, per image and
// step (network, distances, the map at the image's size, regions, overlay, PNG, .npy), one thread.
import Foundation
import GaussianAD

enum MapsBench {
    static func run() throws {
        let args = CommandLine.arguments.dropFirst(2).filter { !$0.hasPrefix("--") }
        guard let modelPath = args.first, args.count >= 2 else {
            throw GaussianADError.invalidArgument("maps needs MODEL.gad and images")
        }
        let file = try ModelFile.load(from: URL(fileURLWithPath: modelPath))
        let net = try Backbone.load(file.backbone, weights: EngineBench.weightsArgument(), cache: cache, threads: 1)
        let det = try Detector(model: file, modelPath: modelPath, backbone: net, maps: true, threads: 1)
        let urls = args.dropFirst().map { URL(fileURLWithPath: $0) }
        let model = file.maps!
        let plain = FeatureExtractor(backbone: net)
        _ = try plain.extract(Array(urls.prefix(4)))
        var t0 = now()
        _ = try plain.extract(Array(urls))
        let tPlain = now() - t0
        t0 = now()
        let feats = try det.extractor.extract(Array(urls))
        let tNet = now() - t0
        let maps = feats.maps!
        var times = [String: Double]()
        func time(_ name: String, _ body: () throws -> Void) rethrows {
            let t = now()
            try body()
            times[name, default: 0] += now() - t
        }
        let (low, high) = det.overlayRange
        let ws = MapWorkspace()
        for i in 0..<maps.count {
            var d: [[Double]] = []
            time("distances") { d = model.distanceMaps(maps, image: i) }
            let s = maps.sizes[i]
            var m = AnomalyMap(width: 0, height: 0, values: [])
            time("map (bilinear, smoothing)") { m = model.anomalyMap(distances: d, normalizer: model.normalizer!, height: s.height, width: s.width, workspace: ws) }
            time("regions") { _ = m.regions(above: model.pixelThreshold!, workspace: ws) }
            var img: Image? = nil
            try time("decode again") { img = try Image.decode(contentsOf: urls[i]) }
            var rgb: [UInt8] = []
            time("overlay") { rgb = Overlay.rgb8(image: img!, map: m, low: low, high: high, threshold: model.pixelThreshold) }
            time("PNG") { _ = PNGEncoder.encode(width: m.width, height: m.height, rgb8: rgb, level: 0) }
            time("npy") { _ = NPYFile.encode(m.values, shape: [m.height, m.width]) }
        }
        t0 = now()
        let n = Double(maps.count)
        print(String(format: "%d images, one thread: network (decode, resize, levels) %.2f ms an image; with the maps' levels and images kept %.2f ms",
                     maps.count, tPlain / n * 1e3, tNet / n * 1e3))
        for (k, v) in times.sorted(by: { $0.value > $1.value }) { print(String(format: "  %-28@ %.3f ms", k, v / n * 1e3)) }
        print(String(format: "  %-28@ %.3f ms", "all map steps", times.values.reduce(0, +) / n * 1e3))
    }
}
