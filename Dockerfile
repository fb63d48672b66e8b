# isoformer images, GPU and CPU (docs/packaging.md says how they are built, checked and published):
#   docker build -t ghcr.io/isoformer/isoformer:0.1.0 .                             CUDA 13 and CPU backends
#   docker build --build-arg FLAVOR=cpu -t ghcr.io/isoformer/isoformer:0.1.0-cpu .  CPU only, no CUDA libraries
# The build stage uses the steps of a source install (scripts/install-deps.sh --build, then CMake) with the CMake
# options of recipe/build.sh. The runtime stage holds the binary, the packages that own the shared libraries it
# links (scripts/runtime-packages.sh in the build stage, so the list follows the distribution release) and procps
# (Nextflow reads task metrics with ps), and runs as an unprivileged user.
# Base images are pinned to exact releases; a release pins them by digest too (docs/packaging.md).
ARG FLAVOR=gpu
ARG CUDA_VERSION=13.0.1
ARG UBUNTU_VERSION=24.04

# Per flavor: the toolchain the build runs on and the base the runtime stage starts from.
FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS toolchain-gpu
FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS base-gpu
FROM ubuntu:${UBUNTU_VERSION} AS toolchain-cpu
FROM ubuntu:${UBUNTU_VERSION} AS base-cpu

# The stage names above carry the pinned tags (hadolint cannot see through the variable).
# hadolint ignore=DL3006
FROM toolchain-${FLAVOR} AS build
ARG FLAVOR
# Turing (T4) to Hopper; CUDA 13 builds nothing older than Turing.
ARG CUDA_ARCHITECTURES="75;80;86;89;90"
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN if [ "$FLAVOR" = gpu ]; then cuda=ON; else cuda=OFF; fi \
 && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DISOFORMER_CUDA="$cuda" -DISOFORMER_TESTS=OFF \
          -DISOFORMER_WERROR=OFF -DISOFORMER_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES}" \
 && cmake --build build -j"$(nproc)" \
 && cmake --install build --prefix /opt/isoformer \
 && scripts/runtime-packages.sh /opt/isoformer/bin/isoformer > /opt/isoformer/runtime-packages.txt

# hadolint ignore=DL3006
FROM base-${FLAVOR}
ARG FLAVOR
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /opt/isoformer/runtime-packages.txt /tmp/runtime-packages.txt
# The packages come from the pinned release's archive; their versions follow its security updates.
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && xargs apt-get install -y -qq --no-install-recommends procps < /tmp/runtime-packages.txt \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --gid 10001 isoformer && useradd --create-home --uid 10001 --gid 10001 isoformer
COPY --from=build /opt/isoformer/bin/isoformer /usr/local/bin/isoformer
USER 10001:10001
WORKDIR /home/isoformer
RUN isoformer --version
LABEL org.opencontainers.image.title="isoformer" org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/isoformer/isoformer" \
      org.opencontainers.image.description="IsoFormer transcript isoform expression from DNA, RNA and protein (C/CUDA 13; FLAVOR=cpu: CPU only)"
