#!/usr/bin/env bash
# Installs what isoformer builds, runs and tests with, from Debian's archive and PyPI only.
#   scripts/install-deps.sh          build + runtime + test dependencies (apt) and the Python test env (.venv)
#   scripts/install-deps.sh --build  only what building and running needs
#   scripts/install-deps.sh --data   only the tools test-data/make-test-data.sh rebuilds test-data/ with
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

build_pkgs=(build-essential cmake pkg-config libhts-dev libbigwig-dev libcurl4-gnutls-dev zlib1g-dev
            libopenblas-dev libjansson-dev check)
# oneDNN 2.x for the CPU bf16 GEMMs (--precision bf16); optional: where the archive lacks it, isoformer builds
# without (CMake ISOFORMER_ONEDNN=AUTO). Debian's oneDNN CMake config requires OpenCL's headers and libOpenCL.so
# (the package is built with the OpenCL GPU runtime), which libdnnl-dev does not pull in.
optional_build_pkgs=(libdnnl-dev ocl-icd-opencl-dev)
# Independent tools the tests compare against (bcftools: consensus edits the FASTA and csq names consequences
# for the variants test), the Python (Debian's PyTorch) for parity tests, and the pipeline checks: pyBigWig
# writes test bigWigs, Groovy parses the Nextflow files, shellcheck lints WDL commands, Jinja renders the conda
# recipe.
test_pkgs=(gffread samtools bcftools bedtools tabix hisat2 python3 python3-venv python3-pip python3-torch
           python3-numpy python3-scipy python3-bx python3-pybigwig python3-jinja2 valgrind clang groovy shellcheck)

# Tools test-data/make-test-data.sh cuts the committed test data with (it fetches the data packages
# vt-examples, r-bioc-genomicfeatures and r-bioc-ensembldb itself when they are not installed).
data_pkgs=(samtools tabix gffread python3)

pkgs=("${build_pkgs[@]}")
case "${1:-}" in
  --build) ;;
  --data) pkgs=("${data_pkgs[@]}") ;;
  *) pkgs+=("${test_pkgs[@]}") ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${1:-}" != --data ]; then
  for p in "${optional_build_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  for p in "${optional_build_pkgs[@]}"; do
    for i in "${!missing[@]}"; do
      if [ "${missing[$i]}" = "$p" ] && ! apt-cache show "$p" >/dev/null 2>&1; then
        echo "install-deps: $p is not in this archive; building without it" >&2
        unset 'missing[i]'
      fi
    done
  done
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ -z "${1:-}" ]; then
  bash tests/setup-python.sh
  # Optional: without it the nf-core lint test reports itself skipped.
  bash tests/pipelines/setup-linters.sh || echo "warning: linters not installed: pipelines_nf_core_lint and packaging_dockerfile_lint will be skipped" >&2
fi
