"""Everything `isoformer predict` reads back from its own files is checked before use (issue #18): the
embedding cache (--cache). Each entry is parsed here with struct and zlib (not our reader) to pin its format;
each corruption a disk, a crash or another machine can leave must be a miss with a warning naming the entry and
why, the run exiting 0 with the predictions of a run without the cache, the entry rewritten. A cache that
cannot be written costs a warning, never the run. Temporaries of a killed run in the cache are removed.
Usage: test_readback.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import glob
import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib

iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
ARGS = ["predict", "--model", f"{data}/demo-model", "--fasta", f"{data}/genome.fa.gz", "--gtf",
        f"{data}/annotation.gtf", "--chrom-alias", f"{data}/chromAlias.txt", "--device", "cpu", "--threads", "1"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def predict(out, *extra):
    return subprocess.run([iso, *ARGS, "--out", os.path.join(work, out), *extra], capture_output=True, text=True)


def table(out):
    return open(os.path.join(work, out + ".predictions.tsv")).read()


# The entry layout: magic, byte-order mark, header size, model checksum, encoder, rows, cols, input CRC-32,
# input bytes, producer, payload CRC-32, header CRC-32 (of the 84 bytes before it); then rows x cols float32.
HEADER = struct.Struct("<8sIIQIiiIQ32sII")
assert HEADER.size == 88


def parse(path):
    raw = open(path, "rb").read()
    return list(HEADER.unpack_from(raw)), raw[HEADER.size:]


def write(path, fields, payload, fix_header_crc=True):
    head = bytearray(HEADER.pack(*fields))
    if fix_header_crc:
        struct.pack_into("<I", head, 84, zlib.crc32(bytes(head[:84])))
    open(path, "wb").write(bytes(head) + payload)


check(predict("ref").returncode == 0, "reference run failed")
ref = table("ref")
cache = os.path.join(work, "cache")
r = predict("c1", "--cache", cache)
check(r.returncode == 0 and table("c1") == ref and not r.stderr, f"first cached run: {r.stderr}")
entries = sorted(glob.glob(os.path.join(cache, "*.emb")))
kinds = {k: [e for e in entries if os.path.basename(e).startswith(k + "-")] for k in ("dna", "rna", "protein")}
check(len(entries) == 17 and [len(kinds[k]) for k in ("dna", "rna", "protein")] == [3, 7, 7],
      f"cache entries: {[os.path.basename(e) for e in entries]}")
models = set()
for e in entries:
    h, payload = parse(e)
    magic, bom, hsize, model, kind, rows, cols, _, _, producer, payload_crc, header_crc = h
    models.add(model)
    raw = open(e, "rb").read()
    check(magic == b"ISOEMB2\0" and bom == 0x01020304 and hsize == 88 and producer.rstrip(b"\0") == b"cpu:fp32" and
          kind == ("dna", "rna", "protein").index(os.path.basename(e).split("-")[0]) and
          len(payload) == rows * cols * 4 and payload_crc == zlib.crc32(payload) and header_crc == zlib.crc32(raw[:84]),
          f"{e}: header {h}")
check(len(models) == 1, f"entries of one run name {len(models)} models")
r = predict("c2", "--cache", cache, "-v")
check(r.returncode == 0 and "cache hits 17" in r.stderr and table("c2") == ref, f"second cached run: {r.stderr}")

dna, rna = kinds["dna"][0], kinds["rna"][0]
rows, cols = parse(dna)[0][5:7]
rna_size = os.path.getsize(rna)


def nan_payload(h, p):
    return h, struct.pack("<f", float("nan")) + p[4:]


# Each corruption: (what it does to (header fields, payload), whether the header CRC is made to match, the
# warning's reason).
corruptions = [
    ("dna rows", dna, lambda h, p: (h[:5] + [h[5] + 1] + h[6:], p + bytes(4 * h[6])), True, f"holds {rows + 1} x {cols} values, expected {rows} x {cols}"),
    ("dna cols", dna, lambda h, p: (h[:6] + [h[6] - 1] + h[7:], p[:-4 * h[5]]), True, f"holds {rows} x {cols - 1} values, expected {rows} x {cols}"),
    ("rna payload", rna, lambda h, p: (h, bytes([p[0] ^ 0x40]) + p[1:]), True, "its values are corrupt (checksum)"),
    ("rna truncated", rna, lambda h, p: (h, p[:-100]), True, f"{rna_size - 100} bytes, expected {rna_size} (truncated?)"),
    ("rna header", rna, lambda h, p: (h[:5] + [h[5] + 1] + h[6:], p), False, "its header is corrupt (checksum)"),
    ("another device", dna, lambda h, p: (h[:9] + [b"cuda:bf16"] + h[10:], p), True, "computed on cuda:bf16, this run computes on cpu:fp32"),
    ("another model", rna, lambda h, p: (h[:3] + [h[3] ^ 1] + h[4:], p), True, "made with another model"),
    ("another input", rna, lambda h, p: (h[:7] + [h[7] ^ 1] + h[8:], p), True, "holds another input"),
    ("NaN values", dna, lambda h, p: (h[:10] + [zlib.crc32(nan_payload(h, p)[1])] + h[11:], nan_payload(h, p)[1]), True, "holds a non-finite value"),
    ("big endian", rna, lambda h, p: (h[:1] + [0x04030201] + h[2:], p), True, "written on a machine of another byte order"),
    ("not an entry", dna, None, True, "not an isoformer cache entry"),
]
for name, entry, change, fix, reason in corruptions:
    work_cache = os.path.join(work, "cache-" + name.replace(" ", "_"))
    shutil.copytree(cache, work_cache)
    target = os.path.join(work_cache, os.path.basename(entry))
    if change:
        h, p = parse(target)
        h, p = change(h, p)
        write(target, h, p, fix)
    else:
        open(target, "wb").write(b"pickle\x80\x04" + bytes(200))
    r = predict("x", "--cache", work_cache, "-v")
    check(r.returncode == 0 and table("x") == ref, f"{name}: exit {r.returncode}, same predictions "
          f"{os.path.exists(os.path.join(work, 'x.predictions.tsv')) and table('x') == ref}: {r.stderr.strip()}")
    check(f"{os.path.basename(entry)}: unusable cache entry ({reason}" in r.stderr.replace(work_cache + "/", ""),
          f"{name}: warning should name the entry and '{reason}': {r.stderr.strip()}")
    check("cache hits 16" in r.stderr, f"{name}: the other 16 entries should still be hits: {r.stderr.strip()}")
    h, p = parse(target)
    check(p and zlib.crc32(p) == h[10], f"{name}: entry not rewritten")

# A cache that cannot be written: a regular file where the directory should be, and a directory that cannot be
# created. Both warn once and predict as without a cache.
blocker = os.path.join(work, "not-a-dir")
open(blocker, "w").write("x")
for where, reason in ((blocker, "cannot store embeddings in the cache"),
                      ("/proc/isoformer-no-such-dir", "cannot create the embedding cache directory")):
    r = predict("y", "--cache", where)
    check(r.returncode == 0 and table("y") == ref and r.stderr.count("warning") == 1 and reason in r.stderr,
          f"unwritable cache {where}: exit {r.returncode}: {r.stderr.strip()}")

# A temporary left in the cache by a run killed while writing an entry (this machine, a process that no longer
# exists) is removed by the next run; one of a live process is not.
dead = subprocess.Popen(["true"])
dead.wait()
host = "".join(c if c.isalnum() and c.isascii() else "-" for c in socket.gethostname())[:32]
stale = os.path.join(cache, f"dna-0000000000000000.emb.tmp.{host}.{dead.pid}")
live = os.path.join(cache, f"dna-0000000000000001.emb.tmp.{host}.{os.getpid()}")
for f in (stale, live):
    open(f, "w").write("half")
r = predict("c3", "--cache", cache)
check(r.returncode == 0 and not os.path.exists(stale) and os.path.exists(live),
      f"stale temporary: removed {not os.path.exists(stale)}, live one kept {os.path.exists(live)}")

print(f"{len(failures)} failed" if failures else f"read-back checks passed ({len(corruptions)} cache corruptions)")
sys.exit(1 if failures else 0)
