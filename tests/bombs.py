"""bombs.py -- generators of algorithmic bombs for tests/test_hostile.py
and fuzz/soak.py (issue 19). Every sample is built from raw opcodes, never
by pickling objects; nothing here unpickles anything.

Each generator returns bytes. The sizes are parameters so the tests can
use inputs whose cost on the old code is far over their bound while the
soak varies them."""

import struct

M64 = (1 << 64) - 1


# ---- the decoder's old, unseeded hash (src/decoder.c before issue 19) ----
# static uint32_t mix64(uint64_t x): the MurmurHash3 64-bit finalizer,
# truncated to 32 bits. INT keys hashed as mix64((uint64_t)i); the dict
# index put every key of one hash in one probe chain, so n keys with one
# 32-bit hash made dict building O(n^2).
C1 = 0xff51afd7ed558ccd
C2 = 0xc4ceb9fe1a85ec53


def old_fmix64(x):
    x ^= x >> 33
    x = (x * C1) & M64
    x ^= x >> 33
    x = (x * C2) & M64
    x ^= x >> 33
    return x


def old_fmix64_inverse(y):
    inv1 = pow(C1, -1, 1 << 64)
    inv2 = pow(C2, -1, 1 << 64)
    y ^= y >> 33
    y = (y * inv2) & M64
    y ^= y >> 33
    y = (y * inv1) & M64
    y ^= y >> 33
    return y


def colliding_ints(n, low=0x5eed):
    """n distinct int64 values whose old 32-bit hash is `low`."""
    out = []
    j = 1
    while len(out) < n:
        x = old_fmix64_inverse((j << 32) | low)
        j += 1
        assert old_fmix64(x) & 0xffffffff == low
        out.append(x - (1 << 64) if x >> 63 else x)
    return out


def long1(v):
    """LONG1 opcode for an int (two's complement little-endian)."""
    if v == 0:
        return b"\x8a\x00"
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


def hash_flood(n):
    """{k: None for k in n colliding int keys}, protocol 2."""
    body = b"".join(long1(k) + b"N" for k in colliding_ints(n))
    return b"\x80\x02}(" + body + b"u."


# ---- big-integer amplification ---------------------------------------------
def bigint_memo(nbytes, refs):
    """A list holding one memoized LONG4 of nbytes, referenced refs times."""
    v = bytes([0x5a] * (nbytes - 1)) + b"\x3f"
    out = b"\x80\x02](\x8b" + struct.pack("<I", len(v)) + v + b"q\x00"
    out += b"h\x00" * refs
    return out + b"e."


# ---- output amplification ---------------------------------------------------
def string_memo(nbytes, refs):
    """One memoized str of nbytes referenced refs times in a list."""
    s = b"a" * nbytes
    out = b"\x80\x04](\x8d" + struct.pack("<Q", len(s)) + s + b"\x94"
    out += b"h\x00" * refs
    return out + b"e."


def string_doubling(levels, seed=1 << 16):
    """Tuples of two references to the previous level: the JSON writer
    uses $ref for containers, so only shared scalars amplify -- the list
    of lists below shares one big string 2**levels times by value."""
    s = b"b" * seed
    out = b"\x80\x04\x8d" + struct.pack("<Q", len(s)) + s + b"\x94"
    # level k: a list of two GETs of the previous memo entry
    for k in range(levels):
        out += b"(h" + bytes([k]) + b"h" + bytes([k]) + b"l\x94"
    return out + b"."


# ---- dis: open MARKs --------------------------------------------------------
def open_marks(n):
    """n MARKs never closed (pickletools indents the listing by the mark
    depth, so the old listing grew quadratically)."""
    return b"(" * n + b"N."


# ---- nesting ----------------------------------------------------------------
def deep_lists(n):
    return b"\x80\x02" + b"]" * n + b"e" * (n - 1) + b"."


def deep_marks(n):
    return b"\x80\x02" + b"(" * n + b"N" + b"t" * n + b"."


# ---- policy YAML -------------------------------------------------------------
def yaml_nesting(n):
    return b"[" * n + b"]" * n + b"\n"


def yaml_events(n):
    return b"allow: [" + b", ".join(b"a%d.b" % i for i in range(n)) + b"]\n"


# ---- the scanner's old memo-key hash (src/scanner.c before issue 19) ------
# key_hash(key, mask) = ((key * 0x9E3779B97F4A7C15) >> 20) & mask: bits
# 20.. of key*C. Keys with key*C mod 2^40 < B * 2^20 land in buckets 0..B-1
# for every table size, so the linear-probing cluster holds them all.
SCAN_C = 0x9E3779B97F4A7C15


def scanner_colliding_keys(n, buckets=64):
    """n distinct 32-bit memo keys in the old hash's first `buckets`
    buckets (numpy: 2^20 * buckets candidates, vectorized)."""
    import numpy as np
    cinv = pow(SCAN_C % (1 << 40), -1, 1 << 40)
    out = []
    step = 1 << 22
    for start in range(0, buckets << 20, step):
        r = np.arange(start, min(start + step, buckets << 20), dtype=np.uint64)
        k = (r * np.uint64(cinv)) & np.uint64((1 << 40) - 1)
        out.extend(int(x) for x in k[k < (1 << 32)])
        if len(out) >= n:
            break
    return out[:n]


def memo_key_flood(n, buckets=64):
    """NONE stored under n colliding LONG_BINPUT keys, popped each time."""
    keys = scanner_colliding_keys(n, buckets)
    body = b"".join(b"Nr" + struct.pack("<I", k) + b"0" for k in keys)
    return b"\x80\x02" + body + b"N."
