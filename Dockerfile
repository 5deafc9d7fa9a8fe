# The tenantd image for docker-compose.dev.yml (and any host with a registry).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY reconciler-tests ./reconciler-tests
RUN cargo build --release --locked --bin tenantd

FROM debian:bookworm-slim
# pg_dump for BackupThenDelete; it must match the server's major version (15 here).
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/tenantd /usr/local/bin/tenantd
COPY specs /specs
ENV TENANTD_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["tenantd"]
CMD ["serve"]
