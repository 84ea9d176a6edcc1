// Overflow-checked arithmetic for every size, offset, stride and count read from a file.
import Foundation

/// Sizes read from files are never trusted: these return nil instead of trapping when a sum or
/// product leaves `Int`, so a parser can turn a hostile value into an error that names it.
enum Checked {
    /// `a + b`, or nil on overflow.
    static func add(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : r
    }

    /// `a * b`, or nil on overflow.
    static func mul(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : r
    }

    /// The product of `xs` (1 for none), or nil on overflow or a negative factor.
    static func product(_ xs: [Int]) -> Int? {
        var p = 1
        for x in xs {
            guard x >= 0, let q = mul(p, x) else { return nil }
            p = q
        }
        return p
    }

    /// A 64-bit unsigned value read from a file as an `Int`, or nil if it does not fit.
    static func int(_ v: UInt64) -> Int? { Int(exactly: v) }
}
