// Images to pooled levels in batches: parallel decode + resize, then the network.
import Dispatch
import Foundation

/// Streams image files through a backbone a batch at a time; memory stays bounded by the batch.
///
///     let fx = FeatureExtractor(backbone: try Backbone.load(.efficientNetLite0))
///     let feats = try fx.extract(urls) { done, total in print(done, total) }
public final class FeatureExtractor {
    /// The network.
    public let backbone: Backbone
    /// Images per network call.
    public var batchSize: Int

    /// Bounds applied to every image decoded.
    public var limits: InputLimits

    /// An extractor over `backbone` with batches of `batchSize` images.
    public init(backbone: Backbone, batchSize: Int = 16, limits: InputLimits = .default) {
        self.backbone = backbone
        self.batchSize = max(1, batchSize)
        self.limits = limits
    }

    /// Pooled levels of every file, in order (float64 for the statistics).
    /// - Throws: the first unreadable image, naming it.
    public func extract(_ urls: [URL], progress: ((Int, Int) -> Void)? = nil) throws -> FeatureMatrix {
        let S = backbone.kind.inputSize, per = S * S * 3
        let norm = backbone.kind.normalization
        let dims = backbone.levelDims
        var values: [Double] = []
        values.reserveCapacity(urls.count * dims.reduce(0, +))
        var done = 0
        progress?(0, urls.count)
        var batch = [Float](repeating: 0, count: batchSize * per)
        let limits = self.limits
        while done < urls.count {
            let chunk = Array(urls[done..<min(urls.count, done + batchSize)])
            var errors = [Error?](repeating: nil, count: chunk.count)
            let errLock = NSLock()
            batch.withUnsafeMutableBufferPointer { b in
                let base = b.baseAddress!
                DispatchQueue.concurrentPerform(iterations: chunk.count) { i in
                    do {
                        let img = try Image.decode(contentsOf: chunk[i], limits: limits)
                        var scratch: [Float] = []
                        Preprocess.resizeNormalize(img, size: S, normalization: norm, into: base + i * per, scratch: &scratch)
                    } catch {
                        errLock.lock(); errors[i] = error; errLock.unlock()
                    }
                }
            }
            if let e = errors.compactMap({ $0 }).first { throw e }
            let input = chunk.count == batchSize ? batch : Array(batch[0..<(chunk.count * per)])
            let (f, _) = try backbone.run(inputs: input, count: chunk.count)
            values.append(contentsOf: f.values.lazy.map(Double.init))
            done += chunk.count
            progress?(done, urls.count)
        }
        return try FeatureMatrix(rows: urls.count, levelDims: dims, values: values)
    }
}
