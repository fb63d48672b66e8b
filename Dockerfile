# isoformer with its CUDA backend. Build: docker build -t ghcr.io/isoformer/isoformer:0.1.0 .
# The build stage uses the same steps as a source install (scripts/install-deps.sh --build, then CMake); the
# runtime stage holds the binary, its shared libraries and procps (Nextflow reads task metrics with ps).
ARG CUDA_VERSION=12.4.1
FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu22.04 AS build
ARG CUDA_ARCHITECTURES="75;80;86;89;90"
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DISOFORMER_CUDA=ON -DISOFORMER_TESTS=OFF \
          -DISOFORMER_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES}" \
 && cmake --build build -j"$(nproc)" \
 && cmake --install build --prefix /opt/isoformer

FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu22.04
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libhts3 libbigwig0 libopenblas0-pthread libjansson4 zlib1g \
        libcurl3-gnutls procps $(apt-cache show libdnnl2 >/dev/null 2>&1 && echo libdnnl2 libgomp1) \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/isoformer/bin/isoformer /usr/local/bin/isoformer
RUN isoformer --version
LABEL org.opencontainers.image.title="isoformer" org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.description="IsoFormer transcript isoform expression from DNA, RNA and protein (C/CUDA)"
