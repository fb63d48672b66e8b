"""nf-core's own linter (nf-core/tools, pinned in tests/pipelines/setup-linters.sh) on our modules and subworkflow,
offline: they are staged as a clone of nf-core/modules would hold them (modules/nf-core/isoformer/<module>,
subworkflows/nf-core/isoformer_scatter, .nf-core.yml allowing our ghcr.io/isoformer registry the way nf-core/modules
lists other projects' registries), that stage is its own git remote, and a stand-in `nextflow` answers the version
and config calls. Every lint test must pass but those only the missing engine or network decide:

- docker_tag, singularity_tag ("Unable to resolve ... container"): resolved by `nextflow inspect`, the engine;
- bioconda_version (a warning): looks the package up on anaconda.org, the network (and bioconda::isoformer is
  published only at release, docs/packaging.md);
- process_standard_label (a warning) for process_gpu, the label nf-core/modules' own GPU modules carry.

The schemas meta.yml and environment.yml are validated against are a nf-core/modules clone's when
NF_CORE_MODULES names one (the real check, e.g. before a release); otherwise the ones modelled on them in
tests/pipelines (meta-schema.json, environment-schema.json, subworkflow-schema.json).

usage: nf_core_lint.py WORKDIR    (exit 77, skipped, when nf-core is not installed)"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
VENV = os.environ.get("ISOFORMER_LINTERS_VENV", os.path.join(ROOT, ".venv-linters"))

try:
    import nf_core
except ImportError:
    python = os.path.join(VENV, "bin", "python3")
    if not os.path.exists(python):
        print(f"SKIP nf-core/tools is not installed ({VENV}): bash tests/pipelines/setup-linters.sh")
        sys.exit(77)
    os.execv(python, [python, *sys.argv])

from nf_core.modules.lint import ModuleLint  # noqa: E402
from nf_core.subworkflows.lint import SubworkflowLint  # noqa: E402

ALLOWED_FAILURES = {"docker_tag": "Unable to resolve docker container",
                    "singularity_tag": "Unable to resolve singularity container"}
ALLOWED_WARNINGS = {"bioconda_version": "Conda version not specified correctly: bioconda::isoformer=",
                    "process_standard_label": "Non-standard labels found: `process_gpu`"}
STANDIN = """#!/bin/sh
# nextflow stand-in for nf-core lint: the version and an empty config; anything else needs the engine.
case "$1" in
  -v|-version) echo "nextflow version 25.04.0"; exit 0 ;;
  config) echo "{}"; exit 0 ;;
esac
echo "nextflow stand-in: '$*' needs the Nextflow engine" >&2
exit 1
"""


def git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=lint", "-c", "user.email=lint@localhost", *args], cwd=cwd, check=True,
                   capture_output=True)


def stage(work):
    """A nf-core/modules-shaped repository holding our modules and subworkflow, and its bare remote."""
    repo = os.path.join(work, "modules-repo")
    mods = os.path.join(repo, "modules", "nf-core", "isoformer")
    os.makedirs(mods)
    for name in os.listdir(os.path.join(ROOT, "nextflow", "modules", "isoformer")):
        shutil.copytree(os.path.join(ROOT, "nextflow", "modules", "isoformer", name), os.path.join(mods, name))
    sub = os.path.join(repo, "subworkflows", "nf-core", "isoformer_scatter")
    shutil.copytree(os.path.join(ROOT, "nextflow", "subworkflows", "isoformer_scatter"), sub)
    # Its includes, from where the subworkflow now lives to where the modules now live.
    with open(os.path.join(sub, "main.nf")) as f:
        text = f.read()
    with open(os.path.join(sub, "main.nf"), "w") as f:
        f.write(text.replace("'../../modules/isoformer/", "'../../../modules/nf-core/isoformer/"))
    clone = os.environ.get("NF_CORE_MODULES")
    schemas = {"modules/meta-schema.json": "meta-schema.json",
               "modules/environment-schema.json": "environment-schema.json",
               "subworkflows/yaml-schema.json": "subworkflow-schema.json"}
    for dst, ours in schemas.items():
        shutil.copy(os.path.join(clone, dst) if clone else os.path.join(HERE, ours), os.path.join(repo, dst))
    with open(os.path.join(repo, ".nf-core.yml"), "w") as f:
        f.write("repository_type: modules\norg_path: nf-core\ncontainer-registry:\n  - ghcr.io/isoformer\n")
    git("init", "-q", "-b", "master", ".", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "stage", cwd=repo)
    remote = os.path.join(work, "remote.git")
    git("clone", "-q", "--bare", repo, remote, cwd=work)
    return repo, "file://" + remote


def main():
    work = os.path.abspath(sys.argv[1])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "bin"))
    with open(os.path.join(work, "bin", "nextflow"), "w") as f:
        f.write(STANDIN)
    os.chmod(os.path.join(work, "bin", "nextflow"), 0o755)
    os.environ.update(PATH=os.path.join(work, "bin") + os.pathsep + os.environ["PATH"], HIDE_PROGRESS="1",
                      XDG_CONFIG_HOME=os.path.join(work, "config"), XDG_CACHE_HOME=os.path.join(work, "cache"))
    repo, remote = stage(work)
    print(f"nf-core/tools {nf_core.__version__}, schemas from "
          f"{os.environ.get('NF_CORE_MODULES') or 'tests/pipelines (modelled on nf-core/modules)'}")
    failures = []
    for kind, cls, args in (("modules", ModuleLint, {"all_modules": True}),
                            ("subworkflows", SubworkflowLint, {"all_subworkflows": True})):
        lint = cls(repo, remote_url=remote, branch="master", hide_progress=True)
        lint.lint(print_results=False, **args)
        print(f"{kind}: {len(lint.passed)} passed, {len(lint.warned)} warned, {len(lint.failed)} failed")
        for results, allowed_by_test, excuse in ((lint.failed, ALLOWED_FAILURES, "failed (needs the engine)"),
                                                 (lint.warned, ALLOWED_WARNINGS, "warned (network / GPU label)")):
            for r in results:
                allowed = allowed_by_test.get(r.lint_test, "\0") in r.message
                print(f"  {excuse if allowed else 'FAIL'} {r.component_name} {r.lint_test}: {r.message}")
                if not allowed:
                    failures.append(r)
    print(f"nf-core lint: {len(failures)} findings beyond what the missing engine and network decide")
    sys.exit(1 if failures else 0)


main()
