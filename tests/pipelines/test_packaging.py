"""Packaging checks that run without conda-build or a Docker daemon (docs/packaging.md says what is left to a
release machine).

usage: test_packaging.py MODE WORKDIR
  recipe      recipe/meta.yaml rendered as conda-build renders it (Jinja with its functions, then line selectors)
              for the CPU and CUDA variants; what it publishes (bioconda::isoformer=<version>) is what every
              environment file, container tag and manifest names; recipe/build.sh builds into a clean $PREFIX
              from a copy of the source tree, and the recipe's test commands pass against that install alone.
  dockerfile  hadolint (the pinned one of tests/pipelines/setup-linters.sh; skipped when absent) and the
              Dockerfile's promises: gpu and cpu flavors, CUDA 13, exact base image versions, an unprivileged
              numeric user, runtime libraries from scripts/runtime-packages.sh."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import jinja2
import yaml

from checks import check, finish, skip

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
mode, work = sys.argv[1], os.path.abspath(sys.argv[2])



def project_version():
    return re.search(r"project\(isoformer VERSION (\S+)", open(os.path.join(ROOT, "CMakeLists.txt")).read()).group(1)


def render(cuda):
    """meta.yaml as conda-build reads it: Jinja first (compiler(), stdlib(), pin_subpackage() and the variant's
    values), then each `# [selector]` line kept when its selector is true on linux-64."""
    variant = {"cuda_compiler_version": cuda, "linux": True, "osx": False, "win": False}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = env.from_string(open(os.path.join(ROOT, "recipe", "meta.yaml")).read()).render(
        compiler=lambda lang: f"{lang}_compiler_stub", stdlib=lambda lang: f"{lang}_stdlib_stub",
        pin_subpackage=lambda name, max_pin=None: f"{name} (pinned {max_pin})", PKG_HASH="0", PKG_BUILDNUM="0",
        **variant)
    kept = []
    for line in text.splitlines():
        m = re.search(r"#\s*\[(.+)\]\s*$", line)
        if m:
            if not eval(m.group(1), {}, variant):  # noqa: S307 (the recipe's own selectors)
                continue
            line = line[:m.start()].rstrip()
        kept.append(line)
    return yaml.safe_load("\n".join(kept))


def names(reqs):
    return {re.split(r"[\s<>=!]", r, maxsplit=1)[0] for r in reqs or []}


def run_recipe():
    version = project_version()
    cpu, gpu = render("None"), render("13.0")
    pkg = cpu["package"]
    check(pkg == {"name": "isoformer", "version": version}, f"recipe publishes isoformer {pkg}, CMake says {version}")
    check(f"v{version}.tar.gz" in cpu["source"]["url"], f"source is the release tarball: {cpu['source']['url']}")
    sha = cpu["source"]["sha256"]
    check(re.fullmatch(r"[0-9a-f]{64}|RELEASE_TARBALL_SHA256", sha) is not None, f"sha256 {sha}")
    check(cpu["build"]["string"].startswith("cpu_") and gpu["build"]["string"].startswith("cuda130_"),
          f"build strings {cpu['build']['string']}, {gpu['build']['string']}")
    check("cuda_compiler_stub" not in cpu["requirements"]["build"] and
          "cuda_compiler_stub" in gpu["requirements"]["build"] and
          {"cuda-cudart-dev", "libcublas-dev"} <= names(gpu["requirements"]["host"]) and
          not {"cuda-cudart-dev", "libcublas-dev"} & names(cpu["requirements"]["host"]),
          "the CUDA compiler and libraries only in the CUDA variant")
    cmake = open(os.path.join(ROOT, "CMakeLists.txt")).read()
    wanted = {"htslib": "htslib", "jansson": "jansson", "BigWig": "libbigwig", "OpenBLAS": "libopenblas",
              "ZLIB": "zlib"}
    check(all(k in cmake for k in wanted) and set(wanted.values()) <= names(cpu["requirements"]["host"]),
          f"host requirements {sorted(names(cpu['requirements']['host']))} cover CMake's libraries")
    root_env = yaml.safe_load(open(os.path.join(ROOT, "environment.yml")))
    check(set(wanted.values()) <= names(root_env["dependencies"]),
          "environment.yml (a source build) has the recipe's host libraries")
    license_file = os.path.join(ROOT, cpu["about"]["license_file"])
    if not os.path.exists(license_file):
        print(f"note: {cpu['about']['license_file']} is missing: conda-build refuses the recipe until the project "
              "adds it (docs/packaging.md, before the first release)")
    # What the recipe publishes is what every consumer names.
    published = f"bioconda::isoformer={version}"
    envs = sorted(glob.glob(os.path.join(ROOT, "nextflow", "modules", "isoformer", "*", "environment.yml")))
    check(envs and all(yaml.safe_load(open(e))["dependencies"] == [published] for e in envs),
          f"the {len(envs)} modules' environment.yml name {published}")
    image = f"ghcr.io/isoformer/isoformer:{version}"
    mains = glob.glob(os.path.join(ROOT, "nextflow", "modules", "isoformer", "*", "main.nf"))
    check(all(f'container "{image}"' in open(m).read() for m in mains), f"the modules' container is {image}")
    wdl = "".join(open(p).read() for p in glob.glob(os.path.join(ROOT, "wdl", "*.wdl")))
    tags = set(re.findall(r'"(ghcr\.io/isoformer/isoformer:[^"]+)"', wdl))
    check(tags == {image}, f"the WDL docker defaults are {image}: {sorted(tags)}")
    manifest = re.search(r"version\s*=\s*'([^']+)'", open(os.path.join(ROOT, "nextflow", "nextflow.config")).read())
    check(manifest and manifest.group(1) == version, f"nextflow manifest version {manifest and manifest.group(1)}")
    labels = set(re.findall(r'image\.version="([^"]+)"', open(os.path.join(ROOT, "Dockerfile")).read()))
    check(labels == {version}, f"the Dockerfile's image labels say {sorted(labels)}")
    for inputs in ("test-inputs.json", "test-inputs-variants.json"):
        urls = [v for v in json.load(open(os.path.join(ROOT, "wdl", inputs))).values()
                if isinstance(v, str) and v.startswith("https://")]
        check(urls and all(f"/v{version}/" in u for u in urls), f"wdl/{inputs} reads the v{version} tag's files")
    build_and_test(cpu)


def build_and_test(recipe):
    """recipe/build.sh as conda-build runs it (in a copy of the source, PREFIX empty), then the test section in a
    directory holding only its source_files, with the installed prefix first on PATH."""
    shutil.rmtree(work, ignore_errors=True)
    src, prefix, test_dir = (os.path.join(work, d) for d in ("src", "prefix", "test"))
    def not_source(d, entries):  # build trees, environments, git and results, as .gitignore has them
        return [e for e in entries if e in (".git", "results", "__pycache__") or
                (d == ROOT and e.startswith(("build", ".venv")) and os.path.isdir(os.path.join(d, e)))]

    shutil.copytree(ROOT, src, symlinks=True, ignore=not_source)
    os.makedirs(prefix)
    env = dict(os.environ, PREFIX=prefix, SRC_DIR=src, CPU_COUNT=str(min(os.cpu_count() or 1, 2)),
               cuda_compiler_version="None")
    r = subprocess.run(["bash", os.path.join(src, "recipe", "build.sh")], cwd=src, env=env, capture_output=True,
                       text=True)
    if not check(r.returncode == 0, f"build.sh into a clean PREFIX: exit {r.returncode} {r.stderr.strip()[-800:]}"):
        return
    installed = sorted(os.path.relpath(os.path.join(d, f), prefix) for d, _, fs in os.walk(prefix) for f in fs)
    check("bin/isoformer" in installed, f"installed {installed[:8]}")
    shutil.rmtree(src)  # the install must not need the build tree
    os.makedirs(test_dir)
    for f in recipe["test"]["source_files"]:
        os.makedirs(os.path.dirname(os.path.join(test_dir, f)), exist_ok=True)
        shutil.copy(os.path.join(ROOT, f), os.path.join(test_dir, f))
    test_env = dict(os.environ, PATH=os.path.join(prefix, "bin") + os.pathsep + "/usr/bin:/bin")
    for cmd in recipe["test"]["commands"]:
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=test_dir, env=test_env, capture_output=True,
                           text=True)
        check(r.returncode == 0, f"recipe test: {cmd[:100]} {r.stderr.strip()[-300:]}")
    which = subprocess.run(["bash", "-c", "command -v isoformer"], env=test_env, capture_output=True, text=True)
    check(which.stdout.strip() == os.path.join(prefix, "bin", "isoformer"), f"the tests ran {which.stdout.strip()}")


def run_dockerfile():
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    check(args.get("FLAVOR") == "gpu" and stages[-2:] == [("toolchain-${FLAVOR}", "build"), ("base-${FLAVOR}", "")],
          f"FLAVOR (default gpu) picks the toolchain of the build stage and the base of the runtime one: {stages}")
    bases = {name: re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image) for image, name in stages[:-2]}
    check(sorted(bases) == ["base-cpu", "base-gpu", "toolchain-cpu", "toolchain-gpu"] and
          re.fullmatch(r"nvidia/cuda:13\.\d+\.\d+-devel-ubuntu\d+\.\d+(@sha256:[0-9a-f]{64})?", bases["toolchain-gpu"]) and
          re.fullmatch(r"nvidia/cuda:13\.\d+\.\d+-runtime-ubuntu\d+\.\d+(@sha256:[0-9a-f]{64})?", bases["base-gpu"]) and
          all(re.fullmatch(r"ubuntu:\d+\.\d+(@sha256:[0-9a-f]{64})?", bases[k]) for k in ("toolchain-cpu", "base-cpu")),
          f"base images at exact releases, CUDA 13 for the GPU flavor: {bases}")
    check('if [ "$FLAVOR" = gpu ]; then cuda=ON; else cuda=OFF; fi' in text and '-DISOFORMER_CUDA="$cuda"' in text,
          "the CUDA backend is built for the gpu flavor only")
    runtime = text[text.rindex("FROM base-${FLAVOR}"):]
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    check(users and re.fullmatch(r"[1-9]\d{3,}(:[1-9]\d{3,})?", users[-1]) is not None,
          f"the image runs as an unprivileged numeric user {users}")
    check("scripts/install-deps.sh --build" in text and "scripts/runtime-packages.sh /opt" in text and
          "runtime-packages.txt" in runtime and "isoformer --version" in runtime,
          "built with the source install's steps; runtime packages from scripts/runtime-packages.sh; binary run")
    hadolint = os.path.join(os.environ.get("ISOFORMER_LINTERS_VENV", os.path.join(ROOT, ".venv-linters")), "bin",
                            "hadolint")
    if not os.path.exists(hadolint):
        skip(f"hadolint is not installed ({hadolint}): bash tests/pipelines/setup-linters.sh")
    r = subprocess.run([hadolint, "--no-color", os.path.join(ROOT, "Dockerfile")], capture_output=True, text=True)
    check(r.returncode == 0, f"hadolint Dockerfile {r.stdout.strip()}")


{"recipe": run_recipe, "dockerfile": run_dockerfile}[mode]()
finish()
