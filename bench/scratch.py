"""The benchmarks' scratch folder: made under $TMPDIR and removed when the script ends, however it ends short of
SIGKILL (they write checkpoints of up to 2.8 GB there). ISO_BENCH_KEEP=1 keeps it and says where, to rerun a
driver by hand on the same files."""
import atexit
import os
import shutil
import signal
import sys
import tempfile


def scratch_dir(prefix):
    path = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("ISO_BENCH_KEEP") == "1":
        print(f"scratch folder kept: {path}", file=sys.stderr)
        return path
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # runs the atexit handlers
    return path
