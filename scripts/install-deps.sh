#!/usr/bin/env bash
# Installs what isoformer builds, runs and tests with, from Debian's archive and PyPI only.
#   scripts/install-deps.sh          build + runtime + test dependencies (apt) and the Python test env (.venv)
#   scripts/install-deps.sh --build  only what building and running needs
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

build_pkgs=(build-essential cmake pkg-config libhts-dev libbigwig-dev libcurl4-gnutls-dev zlib1g-dev
            libopenblas-dev libjansson-dev check)
# Independent tools the tests compare against, the Python (Debian's PyTorch) for parity tests, and the pipeline
# checks: pyBigWig writes test bigWigs, Groovy parses the Nextflow files, shellcheck lints WDL commands.
test_pkgs=(gffread samtools bedtools tabix hisat2 python3 python3-venv python3-pip python3-torch python3-numpy
           python3-scipy python3-bx python3-pybigwig valgrind clang groovy shellcheck)

pkgs=("${build_pkgs[@]}")
[ "${1:-}" = "--build" ] || pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[ "${1:-}" = "--build" ] || bash tests/setup-python.sh
