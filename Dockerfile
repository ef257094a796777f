# syntax=docker/dockerfile:1
# shadowproxy's container image (docs/deploy.md).
#
#   docker build -t shadowproxy:0.1.0 .                          the runtime image
#   docker build --target demo -t shadowproxy-demo:0.1.0 .       + curl and jq, for the compose demo
#
# The build stage builds with the Makefile itself (make deps, make, make
# install), exactly as on a developer's machine; no compiler flag or package
# list is repeated here. The runtime stage has the shared libraries only and
# runs as an unprivileged user (uid 10001).

# ---- build ------------------------------------------------------------------
FROM debian:bookworm-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The Makefile (and the two files it includes) first: `make deps` installs
# its BUILD_DEBS, in a layer that is rebuilt only when they change.
COPY Makefile ./
COPY tests/fuzz/fuzz.mk tests/fuzz/
COPY tests/valgrind.mk tests/
RUN make deps && rm -rf /var/lib/apt/lists/*
COPY proxy/ proxy/
COPY tests/check-layers.sh tests/
COPY tests/stub/ tests/stub/
COPY rules/ rules/
COPY docs/ docs/
COPY deploy/ deploy/
COPY certs/make-certs.sh certs/
COPY README.md ./
RUN make shadowproxy build/sp-stub \
 && make install DESTDIR=/out PREFIX=/usr/local SYSCONFDIR=/etc \
 && install -m 0755 build/sp-stub /out/usr/local/bin/sp-stub \
 && install -m 0755 certs/make-certs.sh /out/usr/local/bin/shadowproxy-make-certs \
 && install -m 0755 deploy/probe.sh /out/usr/local/bin/shadowproxy-probe \
 && install -m 0755 deploy/compose-init.sh /out/usr/local/bin/shadowproxy-compose-init \
 && install -m 0755 deploy/demo-traffic.sh /out/usr/local/bin/shadowproxy-demo-traffic \
 && install -D -m 0644 deploy/demo-lib.sh /out/usr/local/lib/shadowproxy/demo-lib.sh \
 && install -m 0644 deploy/config.docker.json /out/etc/shadowproxy/config.json

# ---- base: what every runtime stage shares ------------------------------------
FROM debian:bookworm-slim AS base
ENV DEBIAN_FRONTEND=noninteractive
# The libraries the binaries link (tests/e2e/test_deploy.py checks the list
# against them), CA certificates, and openssl for the dev certificates and
# the upstream health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libcurl4 libjansson4 libuv1 libssl3 zlib1g libxml2 libgnutls30 \
      ca-certificates openssl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 shadowproxy \
 && useradd --system --uid 10001 --gid shadowproxy --no-create-home \
      --home-dir /var/lib/shadowproxy --shell /usr/sbin/nologin shadowproxy \
 && install -d -o shadowproxy -g shadowproxy -m 0750 \
      /var/lib/shadowproxy /var/log/shadowproxy /etc/shadowproxy/certs /run/secrets/shadowproxy
COPY --from=build /out/usr/local/ /usr/local/
COPY --from=build /out/etc/shadowproxy/config.json /etc/shadowproxy/config.json
WORKDIR /var/lib/shadowproxy
USER shadowproxy
EXPOSE 8443 9901
# Liveness: the admin listener's /healthz (no token needed). SIGTERM drains
# for up to limits.drain_timeout_ms: stop with a longer timeout (docker stop -t 25).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["shadowproxy-probe", "http", "127.0.0.1:9901", "/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["shadowproxy"]
CMD ["serve", "--config", "/etc/shadowproxy/config.json"]

# ---- demo: docker-compose.yml's traffic generator -----------------------------
FROM base AS demo
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl jq \
 && rm -rf /var/lib/apt/lists/*
USER shadowproxy
HEALTHCHECK NONE
ENTRYPOINT ["shadowproxy-demo-traffic"]
CMD []

# ---- runtime (the default target) -------------------------------------------
FROM base AS runtime
USER shadowproxy
