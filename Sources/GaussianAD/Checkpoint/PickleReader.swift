// A restricted pickle parser for PyTorch state dicts: a data parser, not an unpickler.
import Foundation

/// A reference to a PyTorch storage found in a pickle's persistent ids.
struct StorageRef {
    var dtype: TensorDType
    var key: String
    var numel: Int
    /// Legacy view storages: (the view's key, element offset into the root, element count).
    var view: (key: String, offset: Int, size: Int)?
}

/// A tensor as rebuilt by `torch._utils._rebuild_tensor_v2`: a strided view of a storage.
struct TensorRef {
    var storage: StorageRef
    var offset: Int
    var size: [Int]
    var stride: [Int]
}

/// A list being built. `depth` is its nesting depth (1 when empty); once it is placed inside
/// another container it is `sealed` and may no longer change, so recorded depths stay exact.
final class PickleList { var items: [PickleValue] = []; var depth = 1; var sealed = false }
/// A dict being built; `depth` and `sealed` as for `PickleList`.
final class PickleDict { var entries: [(PickleValue, PickleValue)] = []; var depth = 1; var sealed = false }

/// The values a tensor state dict pickle can contain.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    case global(module: String, name: String)
    /// An integer wider than 64 bits, little-endian two's complement bytes (legacy magic).
    case bigInt([UInt8])
    case storage(StorageRef)
    case tensor(TensorRef)
    case mark

    var asInt: Int? { if case .int(let v) = self { return Int(exactly: v) }; return nil }
    var asString: String? { if case .string(let s) = self { return s }; return nil }
    var asTuple: [PickleValue]? {
        switch self {
        case .tuple(let t): return t
        case .list(let l): return l.items
        default: return nil
        }
    }
}

/// Parses one pickle (protocols 2-5) accepting only the opcodes and globals that tensor state
/// dicts use: `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` (and
/// `_rebuild_tensor`, `_rebuild_parameter`), and the typed storage classes. Anything else
/// fails with an error naming the opcode or the global. Storages are returned as references;
/// the caller resolves their bytes. Nesting depth and open MARKs are bounded by `InputLimits`
/// (a deeply nested value would otherwise overflow the stack when it is freed).
struct PickleReader {
    /// Hard bound on the values on the stack, so that corrupt input cannot exhaust memory.
    static let maxStackDepth = 1 << 16
    static let maxDims = 16

    /// A value with its nesting depth (for tuples and scalars; lists and dicts keep their own).
    private struct Item { var value: PickleValue; var depth: Int }

    private var r: ByteReader
    private var stack: [Item] = []
    private var marks: [Int] = []
    private var memo: [Int: Item] = [:]
    private let limits: InputLimits
    /// Persistent ids become storages through this callback's rules.
    let legacyStorageIDs: Bool

    init(bytes: [UInt8], file: String, start: Int, end: Int? = nil, legacy: Bool, limits: InputLimits = .default) {
        r = ByteReader(bytes, file: file, start: start, end: end)
        legacyStorageIDs = legacy
        self.limits = limits
    }

    /// Byte position after the STOP opcode (where the next pickle or raw data starts).
    var position: Int { r.pos }

    private func fail(_ why: String) -> GaussianADError { r.fail(why) }

    private mutating func push(_ v: PickleValue, depth: Int = 1) throws {
        guard stack.count < Self.maxStackDepth else { throw fail("pickle stack holds more than \(Self.maxStackDepth) values") }
        stack.append(Item(value: v, depth: depth))
    }

    private mutating func popItem() throws -> Item {
        guard let v = stack.popLast() else { throw fail("pickle stack underflow") }
        if case .mark = v.value { throw fail("unexpected MARK on the pickle stack") }
        return v
    }

    private mutating func pop() throws -> PickleValue { try popItem().value }

    private mutating func popMark() throws -> [Item] {
        guard let m = marks.popLast(), m <= stack.count else { throw fail("pickle MARK missing") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    /// The current depth of an item: lists and dicts carry theirs, growing as they fill.
    private static func depth(_ i: Item) -> Int {
        switch i.value {
        case .list(let l): return l.depth
        case .dict(let d): return d.depth
        default: return i.depth
        }
    }

    /// Marks `children` as nested (sealing lists and dicts) and returns the depth of a
    /// container holding them, or fails past the limit.
    private func nest(_ children: [Item]) throws -> Int {
        var d = 0
        for c in children {
            switch c.value {
            case .list(let l): l.sealed = true
            case .dict(let x): x.sealed = true
            default: break
            }
            d = max(d, Self.depth(c))
        }
        guard d + 1 <= limits.maxPickleDepth else {
            throw fail("pickle nests containers deeper than \(limits.maxPickleDepth) levels (GAUSSIAN_AD_MAX_PICKLE_DEPTH)")
        }
        return d + 1
    }

    /// Pushes a tuple of `items`.
    private mutating func pushTuple(_ items: [Item]) throws {
        let d = try nest(items)
        try push(.tuple(items.map(\.value)), depth: d)
    }

    /// The list or dict on top of the stack, for APPEND / SETITEM; it must not be sealed (nested
    /// somewhere already, or among the values being added, which would make a cycle).
    private func openContainer(_ op: String) throws -> PickleValue {
        guard let top = stack.last?.value else { throw fail("\(op) on an empty stack") }
        let sealed: Bool
        switch top {
        case .list(let l): sealed = l.sealed
        case .dict(let d): sealed = d.sealed
        default: sealed = false
        }
        guard !sealed else { throw fail("\(op) changes a container after nesting it (not a state dict)") }
        return top
    }

    private mutating func text(_ n: Int) throws -> String {
        let s = try r.take(n)
        guard let str = String(bytes: s, encoding: .utf8) else { throw fail("invalid UTF-8 string in pickle") }
        return str
    }

    private mutating func line() throws -> String {
        var out: [UInt8] = []
        while true {
            let b = try r.u8()
            if b == 0x0a { break }
            out.append(b)
            if out.count > 256 { throw fail("GLOBAL name too long") }
        }
        guard let s = String(bytes: out, encoding: .utf8) else { throw fail("invalid GLOBAL name") }
        return s
    }

    private func checkGlobal(_ module: String, _ name: String) throws -> PickleValue {
        let allowed: Bool
        switch (module, name) {
        case ("collections", "OrderedDict"),
             ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
             ("torch._utils", "_rebuild_parameter"):
            allowed = true
        case ("torch", let n) where TensorDType.fromStorageClass(n) != nil:
            allowed = true
        default:
            allowed = false
        }
        guard allowed else {
            throw fail("refusing the pickle global '\(module).\(name)': a weights file holds only tensors, so this file may run code and is not loaded")
        }
        return .global(module: module, name: name)
    }

    private func intList(_ v: PickleValue, _ what: String) throws -> [Int] {
        guard let t = v.asTuple, t.count <= Self.maxDims else { throw fail("bad tensor \(what)") }
        return try t.map {
            guard let i = $0.asInt else { throw fail("tensor \(what) holds something that is not an integer") }
            guard i >= 0 else { throw fail("tensor \(what) has a negative entry \(i)") }
            return i
        }
    }

    private func reduce(_ callable: PickleValue, _ args: PickleValue) throws -> PickleValue {
        guard case .global(let module, let name) = callable, let a = args.asTuple else {
            throw fail("REDUCE on something that is not an allowed global")
        }
        switch (module, name) {
        case ("collections", "OrderedDict"):
            return .dict(PickleDict())
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            guard a.count >= 4, case .storage(let st) = a[0], let off = a[1].asInt else {
                throw fail("malformed _rebuild_tensor arguments")
            }
            guard off >= 0 else { throw fail("tensor has a negative storage offset \(off)") }
            let size = try intList(a[2], "size"), stride = try intList(a[3], "stride")
            guard size.count == stride.count else { throw fail("tensor size and stride differ in rank") }
            return .tensor(TensorRef(storage: st, offset: off, size: size, stride: stride))
        case ("torch._utils", "_rebuild_parameter"):
            guard let first = a.first, case .tensor = first else { throw fail("malformed _rebuild_parameter") }
            return first
        default:
            throw fail("REDUCE of '\(module).\(name)' is not allowed")
        }
    }

    private func persistent(_ pid: PickleValue) throws -> PickleValue {
        guard let t = pid.asTuple, t.count >= 5, t[0].asString == "storage",
              case .global(_, let cls) = t[1], let dtype = TensorDType.fromStorageClass(cls) else {
            throw fail("unsupported persistent id (expected a typed storage)")
        }
        guard let key = t[2].asString ?? t[2].asInt.map(String.init), let numel = t[4].asInt else {
            throw fail("malformed storage id")
        }
        guard numel >= 0 else { throw fail("storage '\(key)' has a negative element count \(numel)") }
        var ref = StorageRef(dtype: dtype, key: key, numel: numel, view: nil)
        if legacyStorageIDs, t.count >= 6, let v = t[5].asTuple, v.count == 3 {
            guard let vk = v[0].asString, let vo = v[1].asInt, let vs = v[2].asInt else {
                throw fail("malformed storage view")
            }
            guard vo >= 0, vs >= 0 else { throw fail("storage view '\(vk)' has a negative offset or size (\(vo), \(vs))") }
            ref.view = (vk, vo, vs)
        }
        return .storage(ref)
    }

    /// Reads until STOP and returns the pickled value.
    mutating func read() throws -> PickleValue {
        while true {
            let op = try r.u8()
            switch op {
            case 0x80: _ = try r.u8()                                   // PROTO
            case 0x95: _ = try r.uint(8)                                // FRAME
            case 0x2e: return try pop()                                 // STOP
            case 0x28: marks.append(stack.count)                        // MARK
                if marks.count > limits.maxPickleMarks {
                    throw fail("pickle opens more than \(limits.maxPickleMarks) MARKs at once (GAUSSIAN_AD_MAX_PICKLE_MARKS)")
                }
            case 0x7d: try push(.dict(PickleDict()))                    // EMPTY_DICT
            case 0x5d: try push(.list(PickleList()))                    // EMPTY_LIST
            case 0x29: try push(.tuple([]))                             // EMPTY_TUPLE
            case 0x4e: try push(.none)                                  // NONE
            case 0x88: try push(.bool(true))                            // NEWTRUE
            case 0x89: try push(.bool(false))                           // NEWFALSE
            case 0x4a: try push(.int(Int64(Int32(truncatingIfNeeded: try r.uint(4)))))  // BININT
            case 0x4b: try push(.int(Int64(try r.u8())))                // BININT1
            case 0x4d: try push(.int(Int64(try r.uint(2))))             // BININT2
            case 0x8a, 0x8b:                                            // LONG1, LONG4
                let n = Int(op == 0x8a ? UInt64(try r.u8()) : try r.uint(4))
                guard n <= 64 else { throw fail("integer too large in pickle") }
                let s = try r.take(n)
                if n > 8 { try push(.bigInt(Array(s))); continue }
                var v: UInt64 = 0
                for (i, b) in s.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                if n > 0 && n < 8 && (s.last! & 0x80) != 0 { v |= ~UInt64(0) << (8 * UInt64(n)) }
                try push(.int(Int64(bitPattern: v)))
            case 0x47:                                                  // BINFLOAT (big-endian)
                let s = try r.take(8)
                var v: UInt64 = 0
                for b in s { v = (v << 8) | UInt64(b) }
                try push(.float(Double(bitPattern: v)))
            case 0x58: try push(.string(try text(Int(try r.uint(4)))))  // BINUNICODE
            case 0x8c: try push(.string(try text(Int(try r.u8()))))     // SHORT_BINUNICODE
            case 0x8d:                                                  // BINUNICODE8
                let n = try r.uint(8)
                guard n <= UInt64(r.remaining) else { throw fail("truncated string") }
                try push(.string(try text(Int(n))))
            case 0x55: try push(.string(try text(Int(try r.u8()))))     // SHORT_BINSTRING
            case 0x54: try push(.string(try text(Int(try r.uint(4)))))  // BINSTRING
            case 0x43: try push(.bytes(Array(try r.take(Int(try r.u8())))))      // SHORT_BINBYTES
            case 0x42: try push(.bytes(Array(try r.take(Int(try r.uint(4))))))   // BINBYTES
            case 0x71: memo[Int(try r.u8())] = stack.last               // BINPUT
            case 0x72: memo[Int(try r.uint(4))] = stack.last            // LONG_BINPUT
            case 0x94:                                                  // MEMOIZE
                guard let top = stack.last else { throw fail("MEMOIZE on an empty stack") }
                memo[memo.count] = top
            case 0x68, 0x6a:                                            // BINGET, LONG_BINGET
                let idx = Int(op == 0x68 ? UInt64(try r.u8()) : try r.uint(4))
                guard let v = memo[idx] else { throw fail("pickle memo entry \(idx) missing") }
                guard stack.count < Self.maxStackDepth else { throw fail("pickle stack holds more than \(Self.maxStackDepth) values") }
                stack.append(v)
            case 0x63:                                                  // GLOBAL
                let module = try line(), name = try line()
                try push(try checkGlobal(module, name))
            case 0x93:                                                  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let m = module.asString, let n = name.asString else { throw fail("bad STACK_GLOBAL") }
                try push(try checkGlobal(m, n))
            case 0x74: try pushTuple(try popMark())                     // TUPLE
            case 0x85: let a = try popItem(); try pushTuple([a])        // TUPLE1
            case 0x86: let b = try popItem(), a = try popItem(); try pushTuple([a, b])     // TUPLE2
            case 0x87: let c = try popItem(), b = try popItem(), a = try popItem(); try pushTuple([a, b, c])  // TUPLE3
            case 0x51: try push(try persistent(try pop()))              // BINPERSID
            case 0x52:                                                  // REDUCE
                let args = try pop(), callable = try pop()
                try push(try reduce(callable, args))
            case 0x62: _ = try popItem()                                // BUILD: state ignored
                guard !stack.isEmpty else { throw fail("BUILD on an empty stack") }
            case 0x73, 0x75:                                            // SETITEM, SETITEMS
                let items = op == 0x73 ? Array(try [popItem(), popItem()].reversed()) : try popMark()
                let depth = try nest(items)
                guard items.count % 2 == 0, case .dict(let d) = try openContainer("SETITEMS") else {
                    throw fail("SETITEMS on a non-dict")
                }
                d.depth = max(d.depth, depth)
                for i in stride(from: 0, to: items.count, by: 2) { d.entries.append((items[i].value, items[i + 1].value)) }
            case 0x61, 0x65:                                            // APPEND, APPENDS
                let items = op == 0x61 ? [try popItem()] : try popMark()
                let depth = try nest(items)
                guard case .list(let l) = try openContainer("APPENDS") else { throw fail("APPENDS on a non-list") }
                l.depth = max(l.depth, depth)
                l.items.append(contentsOf: items.map(\.value))
            case 0x30: _ = try pop()                                    // POP
            case 0x31: _ = try popMark()                                // POP_MARK
            case 0x32:                                                  // DUP
                guard let top = stack.last else { throw fail("DUP on an empty stack") }
                guard stack.count < Self.maxStackDepth else { throw fail("pickle stack holds more than \(Self.maxStackDepth) values") }
                stack.append(top)
            default:
                throw fail(String(format: "pickle opcode 0x%02x is not allowed in a weights file", op))
            }
        }
    }
}
