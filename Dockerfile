# syntax=docker/dockerfile:1
# uid-gate container image: a release build on Debian bookworm, run on distroless (glibc, no
# shell, no package manager) as an unprivileged user. Works with a read-only root filesystem:
# uid-gate writes nothing to disk.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the crate registry and build artefacts between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin uid-gate \
 && install -D -m 0755 target/release/uid-gate /out/uid-gate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/uid-gate /uid-gate
USER 65532:65532
ENV UIDGATE_LISTEN_ADDR=0.0.0.0:9191 \
    UIDGATE_LOG_FORMAT=json
EXPOSE 9191
# No shell in the image: the binary asks its own gRPC health service.
HEALTHCHECK --interval=10s --timeout=3s --start-period=2s --retries=3 CMD ["/uid-gate", "healthcheck"]
ENTRYPOINT ["/uid-gate"]
