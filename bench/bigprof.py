#!/usr/bin/env python3
"""Writes a synthetic Go-like CPU profile (gzipped pprof) of about a given size,
for bench/view_bench.mjs: `bigprof.py OUT.pb.gz MEGABYTES`.

Functions are spread over packages and files with line numbers; each sample is
a stack of 12-40 frames drawn from call chains that share their roots, as a
real service's do; values are multiples of 10 ms. Deterministic (seeded).
"""
import gzip
import random
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def packed(num, values):
    return field(num, 2, b"".join(varint(v) for v in values))


def main():
    out, megabytes = sys.argv[1], float(sys.argv[2])
    rng = random.Random(7)
    strings = [""]
    index = {"": 0}

    def s(text):
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return index[text]

    words = ["cart", "order", "user", "search", "index", "cache", "db", "http", "json", "auth",
             "queue", "store", "price", "stock", "mail", "log", "metrics", "grpc", "proto", "sync"]
    nfn = 4000 if megabytes < 5 else 20000  # the symbol tables alone are ~60 KB per 1000
    functions = []
    for i in range(nfn):
        pkg = f"github.com/acme/shop/internal/{words[i % 20]}/{words[(i // 20) % 20]}"
        name = f"{pkg}.{words[(i * 7) % 20].capitalize()}{i}"
        functions.append((i + 1, s(name), s(f"/src/shop/internal/{words[i % 20]}/{words[(i // 20) % 20]}/f{i % 97}.go"),
                          10 + (i % 400)))
    body = bytearray()
    body += field(1, 2, field(1, 0, s("samples")) + field(2, 0, s("count")))
    body += field(1, 2, field(1, 0, s("cpu")) + field(2, 0, s("nanoseconds")))
    # One mapping, symbolized, as Go writes it (pprof does not look for the binary).
    body += field(3, 2, field(1, 0, 1) + field(2, 0, 0x400000) + field(3, 0, 0x4000000) +
                  field(5, 0, s("/usr/local/bin/shop")) + field(7, 0, 1) + field(8, 0, 1) +
                  field(9, 0, 1) + field(10, 0, 1))
    for fid, name, fname, start in functions:
        body += field(5, 2, field(1, 0, fid) + field(2, 0, name) + field(3, 0, name) +
                      field(4, 0, fname) + field(5, 0, start))
    # One location per (function, line): 3 lines per function.
    for fid, name, fname, start in functions:
        for k in range(3):
            lid = (fid - 1) * 3 + k + 1
            body += field(4, 2, field(1, 0, lid) + field(2, 0, 1) + field(3, 0, 0x400000 + lid * 16) +
                          field(4, 2, field(1, 0, fid) + field(2, 0, start + 2 + k * 3)))
    # Call chains: a tree of prefixes, so stacks share their roots.
    roots = [[rng.randrange(nfn) for _ in range(8)] for _ in range(64)]
    target = int(megabytes * 1024 * 1024)
    samples = bytearray()
    n = 0
    ratio = None  # gzipped / raw, measured on the first 5000 samples
    while ratio is None or len(samples) * ratio < target:
        if n == 5000:
            ratio = len(gzip.compress(bytes(samples), 6)) / len(samples)
        chain = list(rng.choice(roots))
        depth = rng.randint(12, 40)
        f = chain[-1]
        while len(chain) < depth:
            f = (f * 31 + rng.randrange(50)) % nfn
            chain.append(f)
        locs = [c * 3 + rng.randrange(3) + 1 for c in chain]
        locs.reverse()  # leaf first
        ticks = rng.choice([1, 1, 1, 2, 3, 5])
        samples += field(2, 2, packed(1, locs) + packed(2, [ticks, ticks * 10_000_000]))
        n += 1
    body += samples
    for text in strings:
        body += field(6, 2, text.encode())
    body += field(9, 0, 1_700_000_000_000_000_000)
    body += field(10, 0, 60_000_000_000)
    body += field(11, 2, field(1, 0, s("cpu")) + field(2, 0, s("nanoseconds")))
    body += field(12, 0, 10_000_000)
    with open(out, "wb") as f:
        f.write(gzip.compress(bytes(body), 6))
    print(f"{out}: {n} samples, {len(body) / 1e6:.1f} MB raw")


if __name__ == "__main__":
    main()
