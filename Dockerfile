# Build: the release binary, against the locked dependency set and pinned toolchain.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs rust-toolchain.toml ./
COPY src ./src
COPY crates ./crates
COPY benches ./benches
# Without the default `sim` feature: no simulator, no `demo` or `sim` command.
RUN cargo build --release --locked --no-default-features --bin contactgraph

# Run: a slim image with the binary only, as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home contactgraph \
    && mkdir -p /var/lib/contactgraph && chown 10001 /var/lib/contactgraph
COPY --from=build /src/target/release/contactgraph /usr/local/bin/contactgraph
USER 10001
EXPOSE 8080
ENV CONTACTGRAPH_SERVER__LISTEN=0.0.0.0:8080
# Mount the configuration at /etc/contactgraph/contactgraph.toml and pass secrets as
# CONTACTGRAPH_GHL__TOKEN and CONTACTGRAPH_CLUBOS__API_KEY. The default SQLite store is
# created in the working directory, /var/lib/contactgraph: mount a volume there, or point
# store.url at PostgreSQL.
WORKDIR /var/lib/contactgraph
ENTRYPOINT ["contactgraph"]
CMD ["serve", "--config", "/etc/contactgraph/contactgraph.toml"]
