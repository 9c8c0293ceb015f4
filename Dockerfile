# Multi-stage build of stoker on Debian 12 (bookworm).
FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
      libyaml-cpp-dev libprotobuf-dev protobuf-compiler zlib1g-dev libdeflate-dev libsqlite3-dev libssl-dev libre2-dev libc-ares-dev \
      nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole tree (see .dockerignore), so that new source folders are never missed.
COPY . .
# The web page's runtime package (uPlot), from the committed lockfile; it is
# embedded into the binary by the build.
RUN cd ui && npm ci --omit=dev --no-audit --no-fund
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTOKER_TESTS=OFF \
    && cmake --build /build --target stoker -j"$(nproc)" \
    && strip /build/stoker

FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libboost-json1.81.0 libboost-url1.81.0 libyaml-cpp0.7 libprotobuf32 \
      zlib1g libdeflate0 libsqlite3-0 libssl3 libre2-9 libc-ares2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/stoker --shell /usr/sbin/nologin stoker \
    && mkdir -p /etc/stoker /var/lib/stoker && chown stoker:stoker /var/lib/stoker
COPY --from=build /build/stoker /usr/local/bin/stoker
COPY examples/local.yaml /etc/stoker/stoker.yaml
USER stoker
WORKDIR /var/lib/stoker
VOLUME ["/etc/stoker", "/var/lib/stoker"]
EXPOSE 4040
ENTRYPOINT ["/usr/local/bin/stoker"]
CMD ["--config", "/etc/stoker/stoker.yaml", "--storage.path", "/var/lib/stoker/stoker.db", "--web.listen-address", "0.0.0.0:4040"]
