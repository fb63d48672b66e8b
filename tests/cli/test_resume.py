"""Kill -9 part-way through `isoformer predict`, then `--resume`: the outputs must be byte-identical to an
uninterrupted run, no output file may exist after the kill, and a journal from other settings is refused.
Usage: test_resume.py ISOFORMER_BINARY WORKDIR TEST_DATA"""
import filecmp
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

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
# kill -9 cannot clean up, but no output may appear under its final name (temporaries have their own).
left = [f for f in os.listdir(os.path.dirname(out)) if not f.endswith(".journal") and ".tmp." not in f]
check(not left, f"outputs left after kill -9: {left}")
# A torn last line, as a kill during a write leaves it.
with open(journal, "a") as f:
    f.write("uc010zza.1\t0x1.8p+0\t0x1")

# A journal from other settings is refused, and kept.
r = subprocess.run([iso, *ARGS, "--out", out, "--resume", "--fusion", "parallel"], capture_output=True, text=True)
check(r.returncode == 1 and "different model or options" in r.stderr, f"mismatched resume: {r.stderr.strip()}")
check(os.path.exists(journal), "journal removed by a refused resume")

r = subprocess.run([iso, *ARGS, "--out", out, "--resume", "-v"], capture_output=True, text=True)
check(r.returncode == 0, f"resume failed: {r.stderr}")
check(f"resumed {killed_after}" in r.stderr, f"resume did not reuse the {killed_after} journaled rows: {r.stderr}")
check(not os.path.exists(journal), "journal not removed after completion")
names = sorted(os.path.basename(f)[len("run"):] for f in glob.glob(ref + ".*"))
for suffix in names:
    same = os.path.exists(out + suffix) and filecmp.cmp(ref + suffix, out + suffix, shallow=False)
    check(same, f"run{suffix} differs from the uninterrupted run")
# SIGTERM (a scheduler's preemption) while the outputs are being written: the handler removes the open
# temporaries, so nothing but complete files from before, or nothing, remains.
term = os.path.join(work, "term", "run")
os.makedirs(os.path.dirname(term))
terminated = False
for attempt in range(40):
    p = subprocess.Popen([iso, *ARGS, "--out", term], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while p.poll() is None:
        if glob.glob(term + "*.tmp.*"):
            p.send_signal(signal.SIGTERM)
            terminated = True
            break
        time.sleep(0.001)
    p.wait()
    if terminated:
        break
check(terminated, "never caught the run while writing outputs")
check(p.returncode == -signal.SIGTERM, f"SIGTERM exit status {p.returncode}")
check(not glob.glob(term + "*.tmp.*"), f"temporaries left after SIGTERM: {glob.glob(term + '*.tmp.*')}")

print(f"killed after {killed_after} transcripts; compared {len(names)} output files")
print(f"{len(failures)} failed" if failures else "resume checks passed")
sys.exit(1 if failures else 0)
