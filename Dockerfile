# syntax=docker/dockerfile:1
# informerd's container image: build with Debian 12's toolchain and libraries, run on
# debian:bookworm-slim with only the shared libraries the binary links.
#   docker build -t informerd:0.1.0 .
# tests/e2e/dockerfile_check.sh checks this file's steps against this machine (no engine needed).

# --- build: `scripts/setup --deb-only` and `scripts/build`, as on a developer machine --------
FROM debian:12 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The package list has one home: `scripts/setup --deb-only` installs what scripts/build needs
# (Debian 12's versions; no Go, Python or test tooling).
COPY scripts/setup scripts/lib.sh /src/scripts/
RUN /src/scripts/setup --deb-only && rm -rf /var/lib/apt/lists/*
COPY . /src
WORKDIR /src
RUN INFORMERD_BUILD=/src/build CMAKE_BUILD_TYPE=Release scripts/build -DINFORMERD_BUILD_TESTS=OFF

# --- probe: grpc-health-probe for HEALTHCHECK (the runtime image has no shell tools) ----------
FROM golang:1.26-bookworm AS probe
RUN CGO_ENABLED=0 GOBIN=/out go install -trimpath -ldflags=-s \
    github.com/grpc-ecosystem/grpc-health-probe@v0.4.61

# --- runtime ----------------------------------------------------------------------------------
FROM debian:12-slim
# The shared libraries `ldd informerd` needs (their own dependencies come with them) and the CA
# bundle for API servers with public certificates.
# hadolint ignore=DL3008
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
       libgrpc++1.51 libprotobuf32 libabsl20220623 libcurl4 libyaml-cpp0.7 libzstd1 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 nonroot \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin nonroot
COPY --from=build /src/build/server/informerd /usr/local/bin/informerd
COPY --from=probe /out/grpc-health-probe /usr/local/bin/grpc-health-probe
USER 65532:65532
# 50051: gRPC (informer.v1 and grpc.health.v1); 9090: Prometheus metrics.
EXPOSE 50051 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/grpc-health-probe", "-addr=127.0.0.1:50051"]
ENTRYPOINT ["/usr/local/bin/informerd"]
CMD ["--listen=0.0.0.0:50051", "--metrics_listen=0.0.0.0:9090"]
