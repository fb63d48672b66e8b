# isoformer images, two targets (docs/packaging.md says how they are built, checked and published):
#   docker build --target gpu -t ghcr.io/isoformer/isoformer:0.1.0 .       CUDA 13 backend (and the CPU one)
#   docker build --target cpu -t ghcr.io/isoformer/isoformer:0.1.0-cpu .   CPU only, no CUDA libraries
# Both build with the steps of a source install (scripts/install-deps.sh --build, then CMake) and the CMake
# options of recipe/build.sh; the runtime stages hold the binary, the packages that own the shared libraries it
# links (scripts/runtime-packages.sh in the build stage, so the list follows the distribution release) and procps
# (Nextflow reads task metrics with ps), and run as an unprivileged user.
# Base images are pinned to exact releases; a release pins them by digest too (docs/packaging.md).
ARG CUDA_VERSION=13.0.1
ARG UBUNTU_VERSION=24.04

FROM ubuntu:${UBUNTU_VERSION} AS build-cpu
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DISOFORMER_CUDA=OFF -DISOFORMER_TESTS=OFF -DISOFORMER_WERROR=OFF \
 && cmake --build build -j"$(nproc)" \
 && cmake --install build --prefix /opt/isoformer \
 && scripts/runtime-packages.sh /opt/isoformer/bin/isoformer > /opt/isoformer/runtime-packages.txt

FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu${UBUNTU_VERSION} AS build-gpu
# Turing (T4) to Hopper; CUDA 13 builds nothing older than Turing.
ARG CUDA_ARCHITECTURES="75;80;86;89;90"
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DISOFORMER_CUDA=ON -DISOFORMER_TESTS=OFF -DISOFORMER_WERROR=OFF \
          -DISOFORMER_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES}" \
 && cmake --build build -j"$(nproc)" \
 && cmake --install build --prefix /opt/isoformer \
 && scripts/runtime-packages.sh /opt/isoformer/bin/isoformer > /opt/isoformer/runtime-packages.txt

FROM ubuntu:${UBUNTU_VERSION} AS cpu
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build-cpu /opt/isoformer/runtime-packages.txt /tmp/runtime-packages.txt
# The packages come from the pinned release's archive; their versions follow its security updates.
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && xargs apt-get install -y -qq --no-install-recommends procps < /tmp/runtime-packages.txt \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --gid 10001 isoformer && useradd --create-home --uid 10001 --gid 10001 isoformer
COPY --from=build-cpu /opt/isoformer/bin/isoformer /usr/local/bin/isoformer
USER 10001:10001
WORKDIR /home/isoformer
RUN isoformer --version
LABEL org.opencontainers.image.title="isoformer" org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/isoformer/isoformer" \
      org.opencontainers.image.description="IsoFormer transcript isoform expression from DNA, RNA and protein (C, CPU build)"

FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu${UBUNTU_VERSION} AS gpu
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build-gpu /opt/isoformer/runtime-packages.txt /tmp/runtime-packages.txt
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && xargs apt-get install -y -qq --no-install-recommends procps < /tmp/runtime-packages.txt \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --gid 10001 isoformer && useradd --create-home --uid 10001 --gid 10001 isoformer
COPY --from=build-gpu /opt/isoformer/bin/isoformer /usr/local/bin/isoformer
USER 10001:10001
WORKDIR /home/isoformer
RUN isoformer --version
LABEL org.opencontainers.image.title="isoformer" org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/isoformer/isoformer" \
      org.opencontainers.image.description="IsoFormer transcript isoform expression from DNA, RNA and protein (C/CUDA 13)"
