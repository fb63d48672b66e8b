"""The reporting the pipeline and packaging test scripts share: one 'ok'/'FAIL' line per check, exit 77 (a
skipped ctest) for what cannot run here, and an exit status from the failures."""
import sys

SKIP = 77
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def skip(why):
    """Skipped, unless a check already failed."""
    print(f"SKIP {why}")
    sys.exit(1 if failures else SKIP)


def finish():
    sys.exit(1 if failures else 0)
