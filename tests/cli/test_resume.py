"""Kill -9 part-way through `isoformer predict`, then `--resume`: the outputs must be byte-identical to an
uninterrupted run, no output file may exist after the kill, a journal from other settings, of another version
or not a journal is refused, damaged records are computed again; SIGTERM and kill -9 while the outputs are
written leave none of them (all or none), and the next run removes the temporaries of the dead one. One run at a
time on a prefix: a second is refused and writes nothing while the first holds it; after kill -9 the next proceeds.
A resume of many rows with --embeddings takes hardly more memory than without (the embeddings stay on disk).
Usage: test_resume.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import filecmp
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib

iso, work, data = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
ARGS = ["predict", "--model", f"{data}/demo-model", "--fasta", f"{data}/genome.fa.gz", "--gtf",
        f"{data}/annotation.gtf", "--chrom-alias", f"{data}/chromAlias.txt", "--threads", "1", "--embeddings"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def names_of(prefix):
    """The suffixes of the files named prefix.*"""
    return sorted(os.path.basename(f)[len(os.path.basename(prefix)):] for f in glob.glob(prefix + ".*"))


ref = os.path.join(work, "ref", "run")
os.makedirs(os.path.dirname(ref))
subprocess.run([iso, *ARGS, "--out", ref], check=True, capture_output=True)

out = os.path.join(work, "killed", "run")
os.makedirs(os.path.dirname(out))
journal = out + ".journal"
killed_after = None
for attempt in range(20):  # kill once at least two transcripts are journaled and before the run ends
    p = subprocess.Popen([iso, *ARGS, "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while p.poll() is None:
        if os.path.exists(journal) and open(journal).read().count("\n") >= 3:
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed_after = open(journal).read().count("\n") - 1  # complete rows; a torn one is dropped
            break
        time.sleep(0.002)
    if killed_after is not None:
        break
    for f in glob.glob(out + "*"):
        os.remove(f)
check(killed_after is not None, "could not kill the run part-way")
# kill -9 cannot clean up, but no output may appear under its final name (temporaries have their own; the lock
# file stays, but its lock died with the process).
left = [f for f in os.listdir(os.path.dirname(out)) if f not in ("run.journal", "run.lock") and ".tmp." not in f]
check(not left, f"outputs left after kill -9: {left}")
# A torn last line, as a kill during a write leaves it.
with open(journal, "a") as f:
    f.write("uc010zza.1\t0x1.8p+0\t0x1")
saved = open(journal).read()

# A journal from other settings is refused, and kept.
r = subprocess.run([iso, *ARGS, "--out", out, "--resume", "--fusion", "parallel"], capture_output=True, text=True)
check(r.returncode == 1 and "different model or options" in r.stderr, f"mismatched resume: {r.stderr.strip()}")
# ... naming the setting that differs (fusion), with the journal's value and this run's, not just the whole header
named = [line for line in r.stderr.splitlines() if "journal has fusion=" in line and "this run fusion=" in line]
check(len(named) == 1 and named[0].split("journal has fusion=")[1][:1] != named[0].split("this run fusion=")[1][:1],
      f"mismatched resume does not name the differing option: {r.stderr.strip()}")
check(os.path.exists(journal), "journal removed by a refused resume")

r = subprocess.run([iso, *ARGS, "--out", out, "--resume", "-v"], capture_output=True, text=True)
check(r.returncode == 0, f"resume failed: {r.stderr}")
check(f"resumed {killed_after}" in r.stderr, f"resume did not reuse the {killed_after} journaled rows: {r.stderr}")
check(not os.path.exists(journal) and not os.path.exists(out + ".lock"), "journal or lock left after completion")
names = names_of(ref)
for suffix in names:
    same = os.path.exists(out + suffix) and filecmp.cmp(ref + suffix, out + suffix, shallow=False)
    check(same, f"run{suffix} differs from the uninterrupted run")
# Damaged journals. A record is "id<TAB>values...<TAB>crc32 of the text before its last tab" (zlib's CRC here);
# a damaged record is dropped with a warning and its transcript computed again; the results stay those of an
# uninterrupted run. A journal that is not one, or of another format version, is an error.
lines = saved.split("\n")
records = [line for line in lines[1:] if line.count("\t") > 2 and
           zlib.crc32(line.rsplit("\t", 1)[0].encode()) == int(line.rsplit("\t", 1)[1], 16)]
check(lines[0].startswith("#isoformer journal v2 model=") and len(records) == killed_after,
      f"journal layout: {lines[0][:60]}... {len(records)} sound records of {killed_after}")


def record(fields):
    text = "\t".join(fields)
    return f"{text}\t{zlib.crc32(text.encode()):08x}"


first = records[0].split("\t")[:-1]
damaged = {
    "a value that is not finite": record([first[0], "nan"] + first[2:]),
    "checksum mismatch": records[0].replace("\t0x", "\t0x1", 1),
    "not the number of values this run writes": record(first[:-1]),
    "listed twice with different values": records[0] + "\n" + record([first[0], "0x1p+0"] + first[2:]),
}
for why, bad in damaged.items():
    d = os.path.join(work, "damaged", "run")
    os.makedirs(os.path.dirname(d), exist_ok=True)
    open(d + ".journal", "w").write("\n".join([lines[0], bad] + records[1:]) + "\n")
    r = subprocess.run([iso, *ARGS, "--out", d, "--resume", "-v"], capture_output=True, text=True)
    check(r.returncode == 0 and why in r.stderr and f"resumed {killed_after - 1};" in r.stderr,
          f"journal with {why}: exit {r.returncode}: {r.stderr.strip()}")
    for suffix in names_of(ref):
        check(filecmp.cmp(ref + suffix, d + suffix, shallow=False), f"journal with {why}: run{suffix} differs")
for first_line, why in (("transcript_id\tgene_id", "not an isoformer journal"),
                        (lines[0].replace(" v2 ", " v1 "), "written by another version of isoformer (v1")):
    d = os.path.join(work, "foreign", "run")
    os.makedirs(os.path.dirname(d), exist_ok=True)
    open(d + ".journal", "w").write("\n".join([first_line] + records) + "\n")
    r = subprocess.run([iso, *ARGS, "--out", d, "--resume"], capture_output=True, text=True)
    check(r.returncode == 1 and why in r.stderr and "rerun without --resume" in r.stderr and
          os.listdir(os.path.dirname(d)) == ["run.journal"], f"journal '{first_line[:20]}': {r.stderr.strip()}")

# SIGTERM (a scheduler's preemption) while the outputs are being written: the handler says so and removes the
# temporaries; the outputs of a run are committed as one set, so none of them exists either (the journal stays,
# for --resume).
term = os.path.join(work, "term", "run")
os.makedirs(os.path.dirname(term))
terminated = False
for attempt in range(40):
    p = subprocess.Popen([iso, *ARGS, "--out", term], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while p.poll() is None:
        if glob.glob(term + "*.tmp.*"):
            p.send_signal(signal.SIGTERM)
            terminated = True
            break
        time.sleep(0.001)
    err = p.communicate()[1]
    if terminated:
        break
check(terminated, "never caught the run while writing outputs")
check(p.returncode == -signal.SIGTERM and "terminated (SIGTERM)" in err, f"SIGTERM exit status {p.returncode}: {err}")
left = sorted(os.listdir(os.path.dirname(term)))
check(left in ([], ["run.journal"]) or (left == ["run" + x for x in names] and "after its outputs were complete" in err),
      f"after SIGTERM while writing outputs, files other than the journal (all or none): {left}")

# kill -9 while the outputs are written leaves their temporaries (nothing can remove them); the next run on the
# prefix removes those of the dead process and commits its own set.
dead = os.path.join(work, "dead", "run")
os.makedirs(os.path.dirname(dead))
stale = []
for attempt in range(40):
    p = subprocess.Popen([iso, *ARGS, "--out", dead], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while p.poll() is None:
        if glob.glob(dead + "*.tmp.*"):
            p.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    p.wait()
    stale = glob.glob(dead + "*.tmp.*")
    if stale:
        break
check(stale, "never caught the run while writing outputs (kill -9)")
r = subprocess.run([iso, *ARGS, "--out", dead, "-v"], capture_output=True, text=True)
check(r.returncode == 0 and not glob.glob(dead + "*.tmp.*") and "temporary file of a run that ended" in r.stderr
      and not os.path.exists(dead + ".lock"),
      f"stale temporaries after the next run: {glob.glob(dead + '*.tmp.*')}: {r.stderr.strip()}")
for suffix in names_of(ref):
    check(filecmp.cmp(ref + suffix, dead + suffix, shallow=False), f"run after kill -9: run{suffix} differs")

# A journal follows the normalization file's content, not its path: the file edited between the run and its resume
# would mix rows of both scalings, so the resume is refused. The journal is the header the run would write (its
# signature is the run.json's "config"), without records.
tissues = open(ref + ".predictions.tsv").readline().rstrip("\n").split("\t")[7:]
norm = os.path.join(work, "norm.tsv")
open(norm, "w").writelines(f"{t}\t1\t2\n" for t in tissues)
edited = os.path.join(work, "edited", "run")
os.makedirs(os.path.dirname(edited))
one = ["--transcripts", "uc010zza.1", "--normalization", norm]
r = subprocess.run([iso, *ARGS, *one, "--out", edited], capture_output=True, text=True)
check(r.returncode == 0, f"run with --normalization: {r.stderr.strip()}")
config = json.load(open(edited + ".run.json"))["config"] if r.returncode == 0 else ""
open(edited + ".journal", "w").write(f"#isoformer journal v2 {config}\n")
open(norm, "w").writelines(f"{t}\t1\t3\n" for t in tissues)  # other std: other values
r = subprocess.run([iso, *ARGS, *one, "--out", edited, "--resume"], capture_output=True, text=True)
check(r.returncode == 1 and "different model or options" in r.stderr and "normalization=" in r.stderr,
      f"resume after the normalization file changed: exit {r.returncode}: {r.stderr.strip()}")

# One run at a time on a prefix. Two runs on it (a job launched twice, a workflow engine retrying while the first
# attempt still runs) would each replace the journal and append to their own copy, and the outputs of one would
# replace the other's. A run that holds the prefix (stopped once its journal exists) refuses a second, which
# writes nothing, names the holder and exits 1; the first, continued, ends as if alone.


def snapshot(directory):
    return {f: open(os.path.join(directory, f), "rb").read() for f in sorted(os.listdir(directory))}


def stopped_run(prefix):
    """A run on prefix stopped (SIGSTOP) once it holds the prefix (its journal exists), or None if it ended first."""
    for attempt in range(20):
        p = subprocess.Popen([iso, *ARGS, "--out", prefix], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        while p.poll() is None:
            if os.path.exists(prefix + ".journal"):
                p.send_signal(signal.SIGSTOP)
                return p
            time.sleep(0.001)
        p.communicate()
        for f in glob.glob(prefix + ".*"):
            os.remove(f)
    return None


busy = os.path.join(work, "busy", "run")
os.makedirs(os.path.dirname(busy))
first = stopped_run(busy)
check(first is not None, "never caught a run before it ended")
if first is not None:
    try:
        before = snapshot(os.path.dirname(busy))
        for extra in ([], ["--resume"]):
            r = subprocess.run([iso, *ARGS, "--out", busy, *extra], capture_output=True, text=True, timeout=300)
            check(r.returncode == 1 and f"{busy} is in use by another isoformer run (pid {first.pid} on host " in
                  r.stderr, f"second run {extra} on a prefix in use: exit {r.returncode}: {r.stderr.strip()}")
            check(snapshot(os.path.dirname(busy)) == before, f"second run {extra} on a prefix in use changed its files")
    finally:
        first.send_signal(signal.SIGCONT)
    err = first.communicate()[1]
    check(first.returncode == 0, f"first run after SIGCONT: exit {first.returncode}: {err.strip()}")
    check(names_of(busy) == names, f"first run's files: {names_of(busy)}")  # no journal, no lock left
    for suffix in names:
        check(os.path.exists(busy + suffix) and filecmp.cmp(ref + suffix, busy + suffix, shallow=False),
              f"first run's run{suffix} differs from an uninterrupted run")

# kill -9 of the holder leaves PREFIX.lock, whose lock died with it: the next run (here --resume) proceeds.
crashed = os.path.join(work, "crashed", "run")
os.makedirs(os.path.dirname(crashed))
p = stopped_run(crashed)
check(p is not None, "never caught a run before it ended (kill -9)")
if p is not None:
    p.send_signal(signal.SIGKILL)
    p.communicate()
    r = subprocess.run([iso, *ARGS, "--out", crashed, "--resume"], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0 and names_of(crashed) == names, f"run after kill -9 of the holder: exit {r.returncode}: "
          f"{names_of(crashed)}: {r.stderr.strip()}")
    for suffix in names:
        check(os.path.exists(crashed + suffix) and filecmp.cmp(ref + suffix, crashed + suffix, shallow=False),
              f"run after kill -9 of the holder: run{suffix} differs")

# A resumed genome's embeddings are not held in memory: the journal keeps them on disk and the embeddings TSV is
# streamed from there. Journals of N planted rows (row i: its first and last prediction and embedding values i, the
# rest 0) resumed with and without --embeddings: the peak RSS may differ by far less than the N x fused_dim floats
# (the old code held them all). Each row must land on its own transcript.
N = 15000
many = os.path.join(work, "many")
os.makedirs(many)
gtf = os.path.join(many, "many.gtf")
with open(gtf, "w") as f:
    f.writelines(f'chr20\tsyn\texon\t{1000 + 40 * i}\t{1030 + 40 * i}\t.\t+\t.\tgene_id "g{i}"; transcript_id "t{i}";\n'
                 for i in range(N))
MANY = [a if a != f"{data}/annotation.gtf" else gtf for a in ARGS if a != "--embeddings"]
peak = {}
for emb in ([], ["--embeddings"]):
    one = os.path.join(many, f"one{len(emb)}")
    subprocess.run([iso, *MANY, *emb, "--transcripts", "t0", "--out", one], check=True, capture_output=True)
    config = json.load(open(one + ".run.json"))["config"]
    na = len(open(one + ".predictions.tsv").readline().split("\t")) - 7
    dim = len(open(one + ".embeddings.tsv").readline().split("\t")) - 7 if emb else 0
    planted = os.path.join(many, f"run{len(emb)}")
    with open(planted + ".journal", "w") as f:
        f.write(f"#isoformer journal v2 {config}\n")
        for i in range(N):
            text = f"t{i}" + "".join(f"\t{float(i).hex()}" + "\t0x0p+0" * (w - 2) + f"\t{float(i).hex()}"
                                     for w in (na, dim) if w)
            f.write(f"{text}\t{zlib.crc32(text.encode()):08x}\n")
    r = subprocess.run([iso, *MANY, *emb, "--resume", "-v", "--out", planted], capture_output=True, text=True)
    check(r.returncode == 0 and f"resumed {N};" in r.stderr, f"resume of {N} planted rows {emb}: {r.stderr.strip()}")
    peak[bool(emb)] = float(r.stderr.split("peak RSS ")[1].split()[0]) if r.returncode == 0 else 0
    for table, width in ((".predictions.tsv", na), (".embeddings.tsv", dim)):
        if width and r.returncode == 0:
            with open(planted + table) as f:
                rows = [line.rstrip("\n").split("\t") for line in f][1:]
            check(len(rows) == N and all(x[7] == x[-1] == x[0][1:] and x[8:-1] == ["0"] * (width - 2) for x in rows),
                  f"resumed planted rows: {planted + table} does not hold each row's own values")
emb_mb = N * dim * 4 / 1e6
with open(iso, "rb") as f:
    sanitized = b"__asan_init" in f.read()  # ASan's quarantine and shadow memory make RSS no measure of ours
check(sanitized or peak[True] - peak[False] < emb_mb / 4, f"peak RSS {peak[True]:.0f} MB with --embeddings, {peak[False]:.0f} "
      f"MB without: the {emb_mb:.0f} MB of embeddings are held in memory")

print(f"killed after {killed_after} transcripts; compared {len(names)} output files")
print(f"{len(failures)} failed" if failures else "resume checks passed")
sys.exit(1 if failures else 0)
