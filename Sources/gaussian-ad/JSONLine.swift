// One JSON object a line, written by hand: `score --json` prints a line per image, and
// Foundation's serialiser cost more than the rest of a line's work.
import Foundation

/// A JSON object built from keys and already-encoded values, printed with its keys sorted.
struct JSONLine {
    private var fields: [(String, String)] = []

    /// `key`: a string.
    mutating func set(_ key: String, _ s: String) { fields.append((key, Self.quote(s))) }
    /// `key`: a number, `null` when it is not finite (JSON has no NaN or infinity).
    mutating func set(_ key: String, _ v: Double) { fields.append((key, v.isFinite ? "\(v)" : "null")) }
    /// `key`: a whole number.
    mutating func set(_ key: String, _ v: Int) { fields.append((key, "\(v)")) }
    /// `key`: true or false.
    mutating func set(_ key: String, _ v: Bool) { fields.append((key, v ? "true" : "false")) }
    /// `key`: a value already encoded as JSON.
    mutating func set(_ key: String, raw: String) { fields.append((key, raw)) }

    /// The object, keys in byte order.
    var text: String {
        "{" + fields.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            .map { Self.quote($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    /// `s` as a JSON string: quotes, backslashes and control characters escaped.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
