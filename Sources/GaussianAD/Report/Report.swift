// The self-contained HTML report of an evaluation: inline SVG charts and thumbnails.
import CKernels
import Foundation

/// Renders an evaluation as one HTML file with no external resources.
///
///     try Data(Report.html(result, dataset: ds).utf8).write(to: url)
public enum Report {
    /// The HTML document.
    public static func html(_ r: EvaluationResult, dataset: Dataset) -> String {
        var red = "none"
        switch r.reduction { case .none: break; case .pca(let t): red = "PCA \(t)"; case .npca(let t): red = "NPCA \(t)" }
        var body = """
        <h1>gaussian-ad evaluation</h1>
        <p class="meta">\(esc(dataset.kind)) dataset <code>\(esc(dataset.root.path))</code> &middot; backbone <b>\(esc(r.backbone))</b>
        &middot; levels \(r.levels.map(String.init).joined(separator: ",")) &middot; reduction \(red)
        &middot; \(String(format: "%.1f", r.imagesPerSecond)) images/s &middot; \(String(format: "%.1f", r.seconds)) s</p>
        """
        body += summaryTable(r)
        for c in r.categories { body += category(c, levels: r.levels, root: dataset.categories.first { $0.name == c.name }?.root) }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>gaussian-ad: \(esc(r.backbone))</title>
        <style>
        body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222}
        h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
        .meta{color:#555;font-size:13px} table{border-collapse:collapse;font-size:13px;margin:8px 0}
        td,th{border:1px solid #ddd;padding:3px 8px;text-align:right} th{background:#f4f4f4} td.l,th.l{text-align:left}
        .charts{display:flex;flex-wrap:wrap;gap:16px} .card{border:1px solid #e3e3e3;border-radius:6px;padding:8px}
        .card h3{font-size:13px;margin:0 0 4px 0;color:#444} .thumbs{display:flex;flex-wrap:wrap;gap:8px}
        .thumb{font-size:11px;text-align:center;width:120px;overflow-wrap:anywhere;word-break:break-all} .thumb img{width:112px;height:112px;object-fit:contain;border:2px solid #ccc;background:#fafafa}
        .normal img{border-color:#2b7bb9} .anom img{border-color:#d4542b} svg text{font-size:11px;fill:#333}
        </style></head><body>
        \(body)
        </body></html>
        """
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ v: Double, _ d: Int = 4) -> String { String(format: "%.\(d)f", v) }

    static func summaryTable(_ r: EvaluationResult) -> String {
        var s = "<table><tr><th class=l>category</th><th>normal</th><th>anomalous</th><th>AUROC mean</th><th>SEM</th><th>folds</th><th>L2</th><th>SED</th></tr>"
        for c in r.categories {
            s += "<tr><td class=l>\(esc(c.name))</td><td>\(c.normalCount)</td><td>\(c.anomalousCount)</td><td><b>\(f(c.aurocMean))</b></td><td>\(f(c.aurocSEM))</td>"
            s += "<td>\(c.aurocFolds.map { f($0, 3) }.joined(separator: " "))</td><td>\(c.l2AUROC.map { f($0) } ?? "&ndash;")</td><td>\(c.sedAUROC.map { f($0) } ?? "&ndash;")</td></tr>"
        }
        s += "<tr><th class=l>mean</th><th></th><th></th><th>\(f(r.aurocMean))</th><th>\(r.aurocSEM.map { f($0) } ?? "&ndash;")</th><th></th><th></th><th></th></tr></table>"
        return s
    }

    /// Suspect thumbnails shown per category.
    static let maxSuspects = 24

    static func category(_ c: CategoryResult, levels: [Int], root: URL?) -> String {
        var s = "<h2>\(esc(c.name))</h2>"
        s += "<p class=meta>AUROC \(f(c.aurocMean)) &plusmn; \(f(c.aurocSEM)) over \(c.aurocFolds.count) folds; \(c.normalCount) normal, \(c.anomalousCount) anomalous images"
        if let wp = c.workingPoint {
            s += "; threshold \(f(wp.threshold, 3)) at \(f(wp.targetFPR * 100, 1)) % FPR on held-out normals (observed \(f(wp.observedFPR * 100, 1)) %)"
        }
        s += "</p><div class=charts>"
        let scores = c.tested.map(\.score), labels = c.tested.map(\.label)
        if let roc = try? ROC(scores: scores, labels: labels) {
            s += "<div class=card><h3>ROC (AUROC of the pooled test scores \(f(roc.auc)))</h3>\(rocSVG(roc))</div>"
        }
        s += "<div class=card><h3>Scores: normal vs anomalous</h3>\(histogramSVG(c))</div>"
        s += "<div class=card><h3>AUROC per level</h3>\(barsSVG(c.levelAUROC, levels: levels))</div></div>"
        if c.tested.contains(where: { $0.map != nil }) {
            s += maps(c)
        } else {
            let normals = c.tested.filter { $0.label == 0 }.sorted { $0.score > $1.score }.prefix(5)
            let anomalies = c.tested.filter { $0.label != 0 }.sorted { $0.score < $1.score }.prefix(5)
            s += "<h3>Highest-scoring normal images</h3><div class=thumbs>" + normals.map { thumb($0, "normal") }.joined() + "</div>"
            s += "<h3>Lowest-scoring anomalous images</h3><div class=thumbs>" + anomalies.map { thumb($0, "anom") }.joined() + "</div>"
        }
        if !c.suspects.isEmpty, let root {
            let more = c.suspects.count > maxSuspects ? " (the \(maxSuspects) most suspect shown)" : ""
            s += "<h3>Suspect training images: \(c.suspects.count), \(c.excluded.count) excluded by the robust fit\(more)</h3><div class=thumbs>"
                + c.suspects.prefix(maxSuspects).map { suspectThumb($0, root: root) }.joined() + "</div>"
        }
        return s
    }

    /// Overlays shown per group (most anomalous, false positives, false negatives).
    static let maxOverlays = 8

    /// The anomaly maps of a category: pixel metrics, then overlays of the most anomalous test
    /// images and of the errors at the working point.
    static func maps(_ c: CategoryResult) -> String {
        var s = "<h3>Anomaly maps</h3><p class=meta>"
        if let a = c.pixelAUROC, let p = c.pixelAUPRO {
            s += "pixel AUROC <b>\(f(a))</b>, AUPRO <b>\(f(p))</b> (per-region overlap to a false-positive rate of 0.3)"
        } else {
            s += "no ground-truth masks: the maps are shown, not graded"
        }
        if let t = c.pixelThreshold { s += "; outlined: above \(f(t, 3)), the pixel threshold of the held-out normal images" }
        s += ". Colour: inferno, transparent at the normal level 1.</p>"
        let ranked = c.tested.sorted { $0.score > $1.score }
        s += "<h3>Most anomalous test images</h3><div class=thumbs>"
            + ranked.prefix(maxOverlays).map { overlayThumb($0, c) }.joined() + "</div>"
        if let wp = c.workingPoint {
            let fp = ranked.filter { $0.label == 0 && $0.score > wp.threshold }.prefix(maxOverlays)
            let fn = ranked.reversed().filter { $0.label != 0 && $0.score <= wp.threshold }.prefix(maxOverlays)
            func images(_ n: Int, _ what: String) -> String { "\(n) \(what) image\(n == 1 ? "" : "s")" }
            s += "<h3>Errors at the working point (threshold \(f(wp.threshold, 3))): \(images(fp.count, "normal")) above it"
                + (fp.count == maxOverlays ? " (the first \(maxOverlays))" : "") + "</h3><div class=thumbs>"
                + (fp.isEmpty ? "<p class=meta>none</p>" : fp.map { overlayThumb($0, c) }.joined()) + "</div>"
            s += "<h3>\(images(fn.count, "anomalous")) at or below it" + (fn.count == maxOverlays ? " (the lowest \(maxOverlays))" : "")
                + "</h3><div class=thumbs>" + (fn.isEmpty ? "<p class=meta>none</p>" : fn.map { overlayThumb($0, c) }.joined()) + "</div>"
        }
        return s
    }

    /// A tested image with its small map over it (the map's size), captioned.
    static func overlayThumb(_ t: TestedImage, _ c: CategoryResult) -> String {
        let cls = t.label == 0 ? "normal" : "anom"
        guard let map = t.map, let img = try? Image.decode(contentsOf: t.url) else { return thumb(t, cls) }
        let small = resized(img, width: map.width, height: map.height)
        let tt = c.pixelThreshold ?? 2
        let png = Overlay.png(image: small, map: map, low: 1, high: Float(max(tt, 1) + max(tt - 1, 0.5)), threshold: c.pixelThreshold)
        let uri = "data:image/png;base64," + Data(png).base64EncodedString()
        return "<div class=\"thumb \(cls)\"><img src=\"\(uri)\" alt=\"\(esc(t.path))\"><br>\(esc(t.path))<br>score \(f(t.score, 2))</div>"
    }

    /// `img` resized (antialiased) to `width` x `height`, channels kept.
    static func resized(_ img: Image, width w: Int, height h: Int) -> Image {
        var scratch = [Float](repeating: 0, count: img.height * w * img.channels)
        var out = [Float](repeating: 0, count: w * h * 3)
        let mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]
        if img.channels == 1 {
            ck_f32_resize_aa_grey_to_rgb(img.height, img.width, img.pixels, h, w, mean, std, &scratch, &out)
        } else {
            ck_f32_resize_aa_normalize_hwc(img.height, img.width, 3, img.pixels, h, w, mean, std, &scratch, &out)
        }
        return Image(width: w, height: h, pixels: out)
    }

    static func suspectThumb(_ x: Suspect, root: URL) -> String {
        let img = PNGEncoder.thumbnailURI(root.appendingPathComponent(x.path), size: 112).map { "<img src=\"\($0)\" alt=\"\(esc(x.path))\">" } ?? "<div>(unreadable)</div>"
        return "<div class=\"thumb anom\">\(img)<br>\(esc(x.path))<br>score \(f(x.score, 2)), p \(String(format: "%.1e", x.p))</div>"
    }

    static func thumb(_ t: TestedImage, _ cls: String) -> String {
        let img = PNGEncoder.thumbnailURI(t.url, size: 112).map { "<img src=\"\($0)\" alt=\"\(esc(t.path))\">" } ?? "<div>(unreadable)</div>"
        return "<div class=\"thumb \(cls)\">\(img)<br>\(esc(t.path))<br>score \(f(t.score, 2))</div>"
    }

    static let W = 320.0, H = 240.0, pad = 34.0

    static func rocSVG(_ roc: ROC) -> String {
        let pw = W - 2 * pad, ph = H - 2 * pad
        let pts = zip(roc.fpr, roc.tpr).map { "\(f(pad + $0 * pw, 1)),\(f(H - pad - $1 * ph, 1))" }.joined(separator: " ")
        return """
        <svg width="\(Int(W))" height="\(Int(H))" viewBox="0 0 \(Int(W)) \(Int(H))" xmlns="http://www.w3.org/2000/svg">
        <rect x="\(pad)" y="\(pad)" width="\(pw)" height="\(ph)" fill="none" stroke="#999"/>
        <line x1="\(pad)" y1="\(H - pad)" x2="\(W - pad)" y2="\(pad)" stroke="#bbb" stroke-dasharray="4 3"/>
        <polyline points="\(pts)" fill="none" stroke="#d4542b" stroke-width="2"/>
        <text x="\(W / 2 - 60)" y="\(H - 8)">false-positive rate</text>
        <text x="6" y="\(pad - 10)">true-positive rate</text>
        <text x="\(pad - 8)" y="\(H - pad + 14)">0</text><text x="\(W - pad - 4)" y="\(H - pad + 14)">1</text>
        <text x="\(pad - 14)" y="\(pad + 4)">1</text>
        </svg>
        """
    }

    /// Expected combined score of a normal image under the Gaussian assumption: the mean over
    /// levels of E[chi_d] = sqrt(2) Gamma((d + 1) / 2) / Gamma(d / 2).
    static func chiExpectation(_ dims: [Int]) -> Double {
        guard !dims.isEmpty else { return 0 }
        return dims.map { d in 2.0.squareRoot() * exp(lgamma(Double(d + 1) / 2) - lgamma(Double(d) / 2)) }.reduce(0, +) / Double(dims.count)
    }

    static func histogramSVG(_ c: CategoryResult) -> String {
        let scores = c.tested.map(\.score)
        guard var lo = scores.min(), var hi = scores.max() else { return "" }
        let expect = chiExpectation(c.levelDimensions)
        let thr = c.workingPoint?.threshold
        // Log-scaled score axis: normal scores cluster while anomalous ones spread far.
        lo = max(min(lo, expect) * 0.9, 1e-6)
        hi = max(hi, thr ?? 0, expect) * 1.1
        let bins = 40
        let llo = log(lo), lhi = log(hi)
        let bw = (lhi - llo) / Double(bins)
        var hn = [Int](repeating: 0, count: bins), ha = hn
        for t in c.tested {
            let b = min(bins - 1, max(0, Int((log(max(t.score, lo)) - llo) / bw)))
            if t.label == 0 { hn[b] += 1 } else { ha[b] += 1 }
        }
        let nN = max(1, c.tested.filter { $0.label == 0 }.count), nA = max(1, c.tested.filter { $0.label != 0 }.count)
        let dn = hn.map { Double($0) / Double(nN) }, da = ha.map { Double($0) / Double(nA) }
        let top = max(dn.max() ?? 1, da.max() ?? 1, 1e-9)
        let pw = W - 2 * pad, ph = H - 2 * pad
        func x(_ v: Double) -> Double { pad + (log(max(v, lo)) - llo) / (lhi - llo) * pw }
        // The legend sits right of the plot, never over its bars.
        let legendW = 150.0
        var s = "<svg width=\"\(Int(W + legendW))\" height=\"\(Int(H))\" viewBox=\"0 0 \(Int(W + legendW)) \(Int(H))\" xmlns=\"http://www.w3.org/2000/svg\">"
        s += "<rect x=\"\(pad)\" y=\"\(pad)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#999\"/>"
        for i in 0..<bins {
            let x0 = pad + Double(i) / Double(bins) * pw, w = pw / Double(bins)
            let hN = dn[i] / top * ph, hA = da[i] / top * ph
            s += "<rect x=\"\(f(x0, 1))\" y=\"\(f(H - pad - hN, 1))\" width=\"\(f(w, 1))\" height=\"\(f(hN, 1))\" fill=\"#2b7bb9\" fill-opacity=\"0.55\"/>"
            s += "<rect x=\"\(f(x0, 1))\" y=\"\(f(H - pad - hA, 1))\" width=\"\(f(w, 1))\" height=\"\(f(hA, 1))\" fill=\"#d4542b\" fill-opacity=\"0.55\"/>"
        }
        s += "<line x1=\"\(f(x(expect), 1))\" y1=\"\(pad)\" x2=\"\(f(x(expect), 1))\" y2=\"\(H - pad)\" stroke=\"#2a2\" stroke-dasharray=\"5 3\" stroke-width=\"1.5\"/>"
        if let t = thr {
            s += "<line x1=\"\(f(x(t), 1))\" y1=\"\(pad)\" x2=\"\(f(x(t), 1))\" y2=\"\(H - pad)\" stroke=\"#000\" stroke-width=\"1.5\"/>"
        }
        let lx = W - pad + 10
        s += "<rect x=\"\(lx)\" y=\"\(pad + 6)\" width=\"10\" height=\"10\" fill=\"#2b7bb9\" fill-opacity=\"0.55\"/><text x=\"\(lx + 14)\" y=\"\(pad + 15)\">normal</text>"
        s += "<rect x=\"\(lx)\" y=\"\(pad + 20)\" width=\"10\" height=\"10\" fill=\"#d4542b\" fill-opacity=\"0.55\"/><text x=\"\(lx + 14)\" y=\"\(pad + 29)\">anomalous</text>"
        s += "<line x1=\"\(lx)\" y1=\"\(pad + 40)\" x2=\"\(lx + 10)\" y2=\"\(pad + 40)\" stroke=\"#2a2\" stroke-dasharray=\"5 3\"/><text x=\"\(lx + 14)\" y=\"\(pad + 43)\">chi expectation \(f(expect, 1))</text>"
        if let t = thr { s += "<line x1=\"\(lx)\" y1=\"\(pad + 54)\" x2=\"\(lx + 10)\" y2=\"\(pad + 54)\" stroke=\"#000\"/><text x=\"\(lx + 14)\" y=\"\(pad + 57)\">threshold \(f(t, 1)) (5 % FPR)</text>" }
        s += "<text x=\"\(pad - 4)\" y=\"\(H - pad + 14)\">\(f(lo, 1))</text><text x=\"\(W - pad - 20)\" y=\"\(H - pad + 14)\">\(f(hi, 1))</text>"
        s += "<text x=\"\(W / 2 - 60)\" y=\"\(H - 8)\">combined score (log scale)</text></svg>"
        return s
    }

    static func barsSVG(_ values: [Double], levels: [Int]) -> String {
        let pw = W - 2 * pad, ph = H - 2 * pad
        let n = max(1, values.count), bw = pw / Double(n)
        var s = "<svg width=\"\(Int(W))\" height=\"\(Int(H))\" viewBox=\"0 0 \(Int(W)) \(Int(H))\" xmlns=\"http://www.w3.org/2000/svg\">"
        s += "<rect x=\"\(pad)\" y=\"\(pad)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#999\"/>"
        // The axis runs from 0.5 (chance) to 1.
        for (i, v) in values.enumerated() {
            let h = max(0, (v - 0.5) / 0.5) * ph
            let x0 = pad + Double(i) * bw + 3
            s += "<rect x=\"\(f(x0, 1))\" y=\"\(f(H - pad - h, 1))\" width=\"\(f(bw - 6, 1))\" height=\"\(f(h, 1))\" fill=\"#6a5acd\"/>"
            s += "<text x=\"\(f(x0 + 2, 1))\" y=\"\(f(H - pad - h - 3, 1))\" style=\"font-size:9px\">\(f(v, 2))</text>"
            s += "<text x=\"\(f(x0 + bw / 2 - 6, 1))\" y=\"\(H - pad + 13)\">\(i < levels.count ? levels[i] : i)</text>"
        }
        s += "<text x=\"\(pad - 24)\" y=\"\(H - pad + 4)\">0.5</text><text x=\"\(pad - 18)\" y=\"\(pad + 4)\">1</text>"
        s += "<text x=\"\(W / 2 - 15)\" y=\"\(H - 6)\">level</text></svg>"
        return s
    }
}
