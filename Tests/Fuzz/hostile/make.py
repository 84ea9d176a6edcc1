#!/usr/bin/env python3
"""Builds the hand-made hostile files of Tests/Fuzz/hostile, one per class of attack, and
expected.json: for each file, the parser it targets and a phrase its error must contain.

Run from the repository root: python3 Tests/Fuzz/hostile/make.py MODEL.gad
(MODEL.gad: any valid Lite0 model file, e.g. Tests/Fuzz/corpus/modelfile/l0.gad-body plus its
SHA-256; the script re-seals every modified model with a valid checksum, as an attacker would).
Random byte flips almost never build these consistent structures; each is written on purpose.
"""
import hashlib, json, os, struct, sys, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
expected = {}


def put(name, data, target, phrase):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    expected[name] = {"target": target, "message": phrase}


# ---- pickles, written opcode by opcode (protocol 2) ----
class P:
    def __init__(self):
        self.b = bytearray(b"\x80\x02")

    def op(self, *bs):
        self.b += bytes(bs)
        return self

    def glob(self, m, n):
        self.b += b"c" + f"{m}\n{n}\n".encode()
        return self

    def s(self, t):
        u = t.encode()
        self.b += b"X" + struct.pack("<I", len(u)) + u
        return self

    def i(self, v):
        if -2**31 <= v < 2**31:
            self.b += b"J" + struct.pack("<i", v)
        else:
            self.b += b"\x8a\x08" + struct.pack("<q", v)
        return self

    def mark(self): return self.op(0x28)
    def tuple(self): return self.op(0x74)
    def stop(self): return self.op(0x2E)


def tensor(p, key, numel, offset, size, stride, legacy, view=None):
    p.glob("torch._utils", "_rebuild_tensor_v2").mark()
    p.mark().s("storage").glob("torch", "FloatStorage").s(key).s("cpu").i(numel)
    if legacy:
        if view is None:
            p.op(0x4E)
        else:
            p.mark().s(view[0]).i(view[1]).i(view[2]).tuple()
    p.tuple().op(0x51)                      # BINPERSID
    p.i(offset)
    p.mark(); [p.i(x) for x in size]; p.tuple()
    p.mark(); [p.i(x) for x in stride]; p.tuple()
    p.op(0x89)                              # False (requires_grad)
    p.glob("collections", "OrderedDict").op(0x29).op(0x52)
    p.tuple().op(0x52)                      # REDUCE


def state_dict(numel, offset, size, stride, legacy, view=None):
    p = P().op(0x7D).mark().s("w")
    tensor(p, "0", numel, offset, size, stride, legacy, view)
    return bytes(p.op(0x75).stop().b)


def legacy_file(root_pickle, numel, storage_bytes=None):
    out = bytearray()
    out += b"\x80\x02\x8a\x0a" + bytes([0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]) + b"."
    out += b"\x80\x02M\xe9\x03."            # protocol 1001
    out += b"\x80\x02}."                    # sys_info
    out += root_pickle
    out += b"\x80\x02]q\x00(X\x01\x00\x00\x000e."   # storage keys ["0"]
    data = storage_bytes if storage_bytes is not None else b"\x00\x00\x80\x3f" * numel
    out += struct.pack("<Q", len(data) // 4) + data
    return bytes(out)


def zip_file(entries):
    """An uncompressed ("stored") zip, as torch.save writes it."""
    out, cd = bytearray(), bytearray()
    for name, data in entries:
        n = name.encode()
        off = len(out)
        crc = zlib.crc32(data)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(n), 0) + n + data
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data), len(data), len(n), 0, 0, 0, 0, 0, off) + n
    cdo = len(out)
    out += cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd), cdo, 0)
    return bytes(out)


def zip_ckpt(pkl, storage=b"\x00\x00\x80\x3f"):
    return zip_file([("archive/data.pkl", pkl), ("archive/data/0", storage)])


CK = "checkpoint"
# A view with stride 0 and a huge element count: 2^40 floats from one element.
put("zero_stride_huge.pth", zip_ckpt(state_dict(1, 0, [1 << 40], [0], False)), CK, "over the limit")
# A zero-stride view past the repeating-view cap (2^23 floats = 32 MiB from one element).
put("zero_stride_repeat.pth", zip_ckpt(state_dict(1, 0, [1 << 23], [0], False)), CK, "repeats its storage")
# Not hostile: a zero-stride view within the caps (1024 copies of 1.0) must load.
with open(os.path.join(HERE, "zero_stride_ok.pth"), "wb") as f:
    f.write(zip_ckpt(state_dict(1, 0, [1024], [0], False)))
# Sizes whose product overflows 64 bits.
put("size_overflow.pth", zip_ckpt(state_dict(1, 0, [1 << 62, 4], [0, 0], False)), CK, "more elements than can be addressed")
# A storage offset near Int.max: index arithmetic would overflow.
put("offset_near_max.pth", zip_ckpt(state_dict(1, 2**63 - 2, [4], [1], False)), CK, "reach past any storage")
# A legacy view offset that overflows when added to the tensor's offset.
put("view_offset_overflow.pth", legacy_file(state_dict(1, 2**63 - 2, [1], [1], True, view=("v", 10, 1)), 1), CK, "overflows")
# A stride so large that (size - 1) * stride overflows.
put("stride_overflow.pth", zip_ckpt(state_dict(1, 0, [3], [2**62], False)), CK, "reach past any storage")
# Negative stride, negative offset, negative storage size: refused by name.
put("negative_stride.pth", zip_ckpt(state_dict(4, 0, [4], [-1], False), b"\x00" * 16), CK, "negative entry -1")
put("negative_offset.pth", zip_ckpt(state_dict(4, -5, [4], [1], False), b"\x00" * 16), CK, "negative storage offset -5")
put("negative_numel.pth", legacy_file(state_dict(-3, 0, [1], [1], True), 1), CK, "negative element count -3")
# A legacy storage whose element count runs past the end of the file.
lf = bytearray(legacy_file(state_dict(4, 0, [4], [1], True), 4))
lf[-24:-16] = struct.pack("<Q", 2**61)
put("legacy_numel_past_end.pth", bytes(lf), CK, "runs past the end of the file")
# A zip central directory entry claiming a local header far beyond the file (ZIP64 style).
z = bytearray(zip_ckpt(state_dict(1, 0, [1], [1], False)))
cdo = struct.unpack("<I", z[-6:-2])[0]
struct.pack_into("<I", z, cdo + 42, 0x7FFFFFF0)
put("zip_local_header_far.pth", bytes(z), CK, "lies outside the file")
# Deep nesting: 100,000 tuples inside tuples (freeing such a value would overflow the stack).
p = P().op(0x29)
for _ in range(100_000): p.op(0x85)       # TUPLE1
put("deep_tuples.pth", zip_ckpt(bytes(p.stop().b)), CK, "deeper than 100 levels")
# Deep nesting through lists, each appended into the one below it.
p = P()
for _ in range(5000): p.op(0x5D)          # EMPTY_LIST
for _ in range(4999): p.op(0x61)          # APPEND
put("deep_lists.pth", zip_ckpt(bytes(p.stop().b)), CK, "deeper than 100 levels")
# 50,000 MARKs open at once.
p = P()
for _ in range(50_000): p.mark()
put("many_marks.pth", zip_ckpt(bytes(p.op(0x4E).stop().b)), CK, "more than 1000 MARKs")
# A list appended into itself (a cycle).
put("self_cycle.pth", zip_ckpt(bytes(P().op(0x5D, 0x32, 0x61).stop().b)), CK, "after nesting it")
# A DAG of shared tuples whose tree is 2^60 values: the storage walk is bounded.
p = P().op(0x29)
for _ in range(60): p.op(0x32, 0x86)      # DUP, TUPLE2: (t, t)
p.b += b"q\x00"                            # BINPUT 0
p.op(0x30).op(0x7D).mark().s("w").b += b"h\x00"   # POP, {"w": <dag>}
put("shared_dag.pth", zip_ckpt(bytes(p.op(0x75).stop().b)), CK, "more than")

# ---- safetensors ----
def st(header, data=b""):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data

ST = "safetensors"
put("offsets_wrap.safetensors", st({"w": {"dtype": "F32", "shape": [2], "data_offsets": [2**63 - 8, 2**63 - 1]}}, b"\0" * 8), ST, "lie outside")
put("offsets_end_max.safetensors", st({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 2**63 - 1]}}, b"\0" * 8), ST, "lie outside")
put("bytes_overflow.safetensors", st({"w": {"dtype": "F64", "shape": [2**61, 8], "data_offsets": [0, 8]}}, b"\0" * 8), ST, "more elements than can be addressed")
put("tensor_over_limit.safetensors", st({"w": {"dtype": "F32", "shape": [2**28, 8], "data_offsets": [0, 8]}}, b"\0" * 8), ST, "over the limit")
put("negative_shape.safetensors", st({"w": {"dtype": "F32", "shape": [-2, 1], "data_offsets": [0, 8]}}, b"\0" * 8), ST, "negative size -2")
put("negative_offsets.safetensors", st({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, b"\0" * 8), ST, "negative data_offsets")

# ---- images whose headers claim billions of pixels ----
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

def png(w, h, idat=b"", ctype=2, depth=8):
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
            + chunk(b"IDAT", idat or zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))

IM = "image"
put("png_billions.png", png(1_000_000, 1_000_000), IM, "more than the file's")
put("png_65k_square.png", png(65_535, 65_535, ctype=0, depth=1), IM, "more than the file's")

def jpeg(w, h):
    sof = struct.pack(">BHHB", 8, h, w, 1) + bytes([1, 0x11, 0])
    dqt = bytes([0]) + bytes([1] * 64)
    return (b"\xff\xd8" + b"\xff\xdb" + struct.pack(">H", len(dqt) + 2) + dqt
            + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof
            + b"\xff\xda" + struct.pack(">HBBBBBB", 8, 1, 1, 0, 0, 63, 0) + b"\x00" * 16 + b"\xff\xd9")

put("jpeg_billions.jpg", jpeg(65_000, 65_000), IM, "more than the file's")

# ---- model files with a valid checksum and hostile values ----
MF = "modelfile"
if len(sys.argv) > 1:
    raw = open(sys.argv[1], "rb").read()
    body = raw[:-32]
    hlen = struct.unpack("<Q", body[12:20])[0]
    header = json.loads(body[20:20 + hlen])
    arrays = bytearray(body[20 + hlen:])
    d = header["levels"][0]["dimension"]

    def seal(hdr, arr):
        h = json.dumps(hdr, sort_keys=True, separators=(",", ":")).encode()
        b = b"GADMODEL" + struct.pack("<I", 1) + struct.pack("<Q", len(h)) + h + bytes(arr)
        return b + hashlib.sha256(b).digest()

    def with_double(index, value):
        a = bytearray(arrays)
        struct.pack_into("<d", a, 8 * index, value)
        return a

    put("nan_mean.gad", seal(header, with_double(0, float("nan"))), MF, "non-finite value")
    put("inf_sd.gad", seal(header, with_double(d + d * d, float("inf"))), MF, "non-finite value")
    put("zero_cholesky_diagonal.gad", seal(header, with_double(d, 0.0)), MF, "diagonal 0.0")
    put("negative_cholesky_diagonal.gad", seal(header, with_double(d + d + 1, -2.0)), MF, "diagonal -2.0")
    h2 = json.loads(json.dumps(header)); h2["levels"] = header["levels"] * 2; h2["arrayCount"] *= 2
    put("duplicate_level.gad", seal(h2, arrays + arrays), MF, "appears twice")
    h3 = json.loads(json.dumps(header)); h3["levelDims"] = [32, 16, 24, 48, 88, 120, 208, 352, 1280]
    put("wrong_level_dims.gad", seal(h3, arrays), MF, "are not those of efficientnet-lite0")
    h4 = json.loads(json.dumps(header)); h4["workingPoint"]["targetFPR"] = 1.5
    put("bad_working_point.gad", seal(h4, arrays), MF, "working point is not finite")
    h5 = json.loads(json.dumps(header)); h5["levels"][0]["shrinkage"] = -0.5
    put("negative_shrinkage.gad", seal(h5, arrays), MF, "not in [0, 1]")

with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
print(f"{len(expected)} hostile files written to {HERE}")
