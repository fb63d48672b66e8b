"""Everything isoformer reads back from its own files is checked before use (issue #18): the embedding cache
(predict --cache) and the shards merge gathers (their PREFIX.run.json manifests). Each entry is parsed here with struct and zlib (not our reader) to pin its format;
each corruption a disk, a crash or another machine can leave must be a miss with a warning naming the entry and
why, the run exiting 0 with the predictions of a run without the cache, the entry rewritten. A cache that
cannot be written costs a warning, never the run. Temporaries of a killed run in the cache are removed. merge
refuses shards of different runs (model, window, selection), incomplete runs and changed files, leaving no
output; the manifests are checked here with json and zlib.
Usage: test_readback.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import glob
import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib

from fixtures import two_gene_gtf

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
    ("not an entry", dna, b"pickle\x80\x04" + bytes(200), True, "not an isoformer cache entry"),
    # entries are renamed into place without an fsync: a machine that dies can leave one empty
    ("empty", rna, b"", True, "0 bytes, shorter than an entry's header"),
]
for name, entry, change, fix, reason in corruptions:
    work_cache = os.path.join(work, "cache-" + name.replace(" ", "_"))
    shutil.copytree(cache, work_cache)
    target = os.path.join(work_cache, os.path.basename(entry))
    if callable(change):
        h, p = parse(target)
        h, p = change(h, p)
        write(target, h, p, fix)
    else:
        open(target, "wb").write(change)
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

# ---- valid input: a soft-masked genome with IUPAC ambiguity codes ----
# The model reads lowercase as uppercase and an ambiguity code as N (Enformer's one-hot is all zeros for both):
# predictions on such a FASTA equal those on its copy written that way.
plain = gzip.open(f"{data}/genome.fa.gz", "rt").read().split("\n")
masked, as_read = list(plain), list(plain)
for i in range(9000, 11500):
    bases = list(plain[i].lower() if i % 3 == 0 else plain[i])
    if i % 5 == 0:
        bases[(i * 31) % len(bases)] = "RYSWKMBDHVryswkmbdhv"[i % 20]
    masked[i] = "".join(bases)
    as_read[i] = "".join(c.upper() if c.upper() in "ACGTN" else "N" for c in bases)
for name, lines in (("masked.fa", masked), ("as_read.fa", as_read)):
    open(os.path.join(work, name), "w").write("\n".join(lines))
runs = {}
for name in ("masked.fa", "as_read.fa"):
    args = [a if a != f"{data}/genome.fa.gz" else os.path.join(work, name) for a in ARGS]
    r = subprocess.run([iso, *args, "--out", os.path.join(work, name)], capture_output=True, text=True)
    check(r.returncode == 0, f"predict on {name}: {r.stderr.strip()}")
    runs[name] = table(name) if r.returncode == 0 else name
check(runs["masked.fa"] == runs["as_read.fa"] and runs["masked.fa"] != ref,
      "predictions on a soft-masked IUPAC genome differ from those on its uppercase, N-for-ambiguity copy")

# ---- merge: shards of one run, complete ----
# Two genes (BCAS1 and a copy 700 kb downstream), so that both shards of --shard i/2 hold transcripts.
two_genes = two_gene_gtf(data, os.path.join(work, "two_genes.gtf"))
# Another model: the demo weights with one value changed in its last bit.
other_model = os.path.join(work, "other-model")
shutil.copytree(f"{data}/demo-model", other_model)
weights = os.path.join(other_model, "model.safetensors")
raw = bytearray(open(weights, "rb").read())
raw[8 + struct.unpack_from("<Q", raw)[0]] ^= 1
open(weights, "wb").write(bytes(raw))
SHARD = [a if a != f"{data}/annotation.gtf" else two_genes for a in ARGS]


def shard(name, i, *extra, model=None):
    args = [a if a != f"{data}/demo-model" or not model else model for a in SHARD]
    r = subprocess.run([iso, *args, "--shard", f"{i}/2", "--out", os.path.join(work, "shards", name), *extra],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"shard {name}: {r.stderr.strip()}")
    return os.path.join(work, "shards", name)


def copy_run(prefix, name):
    """The files of a run under another directory (its manifest names files relative to itself)."""
    d = os.path.join(work, "copies", name)
    os.makedirs(d, exist_ok=True)
    for f in glob.glob(prefix + ".*"):
        shutil.copy(f, d)
    return os.path.join(d, os.path.basename(prefix))


def merge(name, *prefixes):
    out = os.path.join(work, "merged", name, "m")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    r = subprocess.run([iso, "merge", "--out", out, *prefixes], capture_output=True, text=True)
    return r, sorted(os.listdir(os.path.dirname(out)))


whole = os.path.join(work, "whole")
check(subprocess.run([iso, *SHARD, "--out", whole], capture_output=True).returncode == 0, "unsharded run")
s1, s2 = shard("s1", 1), shard("s2", 2)
r, left = merge("ok", s1, s2)
left_plain = left
out = os.path.join(work, "merged", "ok", "m")
check(r.returncode == 0 and open(out + ".predictions.tsv").read() == open(whole + ".predictions.tsv").read(),
      f"merge of one run's shards: {r.stderr.strip()}")
manifest = json.load(open(out + ".run.json")) if os.path.exists(out + ".run.json") else {}
shard_manifest = json.load(open(s1 + ".run.json"))
check(manifest.get("command") == "merge" and manifest.get("shard") is None and
      manifest.get("config") == shard_manifest["config"] and shard_manifest["shard"] == "1/2" and
      sorted(f["name"] for f in manifest["files"]) == sorted(x for x in left if x != "m.run.json"),
      f"merged manifest: {manifest}")
for f in manifest.get("files", []):  # sizes and CRC-32 of what is on disk, by zlib
    body = open(os.path.join(os.path.dirname(out), f["name"]), "rb").read()
    check(len(body) == f["bytes"] and f"{zlib.crc32(body):08x}" == f["crc32"], f"manifest entry {f}")

# with --embeddings: merge writes the embeddings of the unsharded run (streamed from the shards), in its manifest
whole_e = os.path.join(work, "whole-e")
check(subprocess.run([iso, *SHARD, "--embeddings", "--out", whole_e], capture_output=True).returncode == 0,
      "unsharded run with --embeddings")
r, left = merge("embeddings", shard("s1e", 1, "--embeddings"), shard("s2e", 2, "--embeddings"))
out_e = os.path.join(work, "merged", "embeddings", "m")
check(r.returncode == 0 and os.path.exists(out_e + ".embeddings.tsv") and
      open(out_e + ".embeddings.tsv").read() == open(whole_e + ".embeddings.tsv").read() and
      len(open(whole_e + ".embeddings.tsv").read().splitlines()) > 2, f"merged embeddings: {r.stderr.strip()} {left}")
check("m.embeddings.tsv" in [f["name"] for f in json.load(open(out_e + ".run.json"))["files"]] if r.returncode == 0
      else False, "the merged manifest lists the embeddings")
check("m.embeddings.tsv" not in left_plain, "no embeddings merged from shards without them")

model_b = shard("s2-other-model", 2, model=other_model)
window = shard("s2-window", 2, "--window", "8192")
selected = shard("s2-region", 2, "--region", "20:1-1500000")
truncated = copy_run(s2, "truncated")
with open(truncated + ".predictions.tsv", "r+b") as f:
    f.truncate(os.path.getsize(truncated + ".predictions.tsv") - 10)
swapped = copy_run(s2, "swapped")
shutil.copy(window + ".Brain.bw", swapped + ".Brain.bw")
flipped = copy_run(s2, "flipped")
with open(flipped + ".Brain.bw", "r+b") as f:
    f.seek(os.path.getsize(flipped + ".Brain.bw") // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0x20]))
no_manifest = copy_run(s2, "no-manifest")
os.remove(no_manifest + ".run.json")
lost = copy_run(s2, "lost")
os.remove(lost + ".Liver.bw")
garbled = copy_run(s2, "garbled")
open(garbled + ".run.json", "w").write('{"isoformer_run": 1, "config": ')
refused = [
    ("another model", [s1, model_b], "configuration differs ('model="),
    ("another window", [s1, window], "configuration differs ('window=4096' vs 'window=8192')"),
    ("another selection", [s1, selected], "selection differs ('none' vs 'transcripts=-')"),
    ("a sharded and an unsharded run", [s1, whole], "sharding differs ('1/2' vs 'none')"),
    ("a truncated table", [s1, truncated], "bytes, while"),
    ("a track of another run", [s1, swapped], "swapped/s2.Brain.bw: "),
    ("a changed track", [s1, flipped], "flipped/s2.Brain.bw: its content differs from what"),
    ("a shard missing", [s1], "shard 2/2 is missing: expected all 2 shards of the run (1 given)"),
    ("a shard twice", [s1, copy_run(s1, "again")], "are both shard 1/2"),
    ("a manifest missing", [s1, no_manifest], "no-manifest/s2.run.json: missing, while"),
    ("a file missing", [s1, lost], "lost/s2.Liver.bw: missing, while"),
    ("a garbled manifest", [s1, garbled], "garbled/s2.run.json:1:"),
]
for what, prefixes, message in refused:
    r, left = merge(what.replace(" ", "_"), *prefixes)
    check(r.returncode == 1 and message in r.stderr and not left, f"merge of {what}: exit {r.returncode}, left "
          f"{left}: {r.stderr.strip()}")
# Unsharded runs of one configuration over different parts of the annotation merge (the rows must be disjoint).
gene1 = os.path.join(work, "parts", "bcas1")
gene2 = os.path.join(work, "parts", "copy")
for prefix, region in ((gene1, "20:1-1000000"), (gene2, "20:1000001-1500000")):
    r = subprocess.run([iso, *SHARD, "--region", region, "--out", prefix], capture_output=True, text=True)
    check(r.returncode == 0, f"region run {region}: {r.stderr.strip()}")
r, left = merge("parts", gene1, gene2)
check(r.returncode == 0 and open(os.path.join(work, "merged", "parts", "m.predictions.tsv")).read() ==
      open(whole + ".predictions.tsv").read(), f"merge of two region runs: {r.stderr.strip()}")
check(json.load(open(os.path.join(work, "merged", "parts", "m.run.json")))["selection"] is None,
      "merged manifest of runs over different parts names no one selection")
# Outputs with no manifest at all (another tool's, or made by hand): merged, with a warning that nothing could
# be checked.
bare = [copy_run(p, "bare" + str(i)) for i, p in enumerate((s1, s2))]
for p in bare:
    os.remove(p + ".run.json")
r, left = merge("bare", *bare)
check(r.returncode == 0 and "cannot check that they come from one run" in r.stderr and "m.run.json" not in left,
      f"merge without manifests: {r.stderr.strip()}")

print(f"{len(failures)} failed" if failures else f"read-back checks passed ({len(corruptions)} cache corruptions, "
      f"{len(refused)} refused merges)")
sys.exit(1 if failures else 0)
