# supervisord with the static supervisor-haproxy, for docker-compose.yml.
# The images are arguments so that a host that cannot pull can build from local ones
# (make compose-test does): SWIFT_IMAGE any Swift 6 toolchain image, DEBIAN_IMAGE Debian 12.
ARG SWIFT_IMAGE=swift:6.1-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
WORKDIR /src
# The whole package (Package.swift names Sources/ and Tests/); .dockerignore leaves out builds.
COPY . .
RUN swift build -c release --static-swift-stdlib -Xswiftc -static-executable -Xlinker -s \
    && cp "$(swift build -c release --show-bin-path)/supervisor-haproxy" /supervisor-haproxy

FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends supervisor python3 \
    && rm -rf /var/lib/apt/lists/*
# Everything here runs as "app", not root. Its uid is 99, the uid HAProxy's official image
# runs as: HAProxy creates its admin socket (mode 600) in the shared volume, and the listener
# can use it. The volume starts from this image's /run/haproxy, owned by that uid.
RUN groupadd --system --gid 99 app \
    && useradd --system --uid 99 --gid 99 --no-create-home --shell /usr/sbin/nologin app \
    && install -d -o app -g app -m 750 /run/haproxy /var/run/supervisor
COPY --from=build /supervisor-haproxy /usr/local/bin/supervisor-haproxy
COPY examples/supervisord.conf /etc/supervisor/supervisord.conf
# What the example programs serve: one page, nothing else of the container's.
COPY examples/www /srv/www
USER app
CMD ["supervisord", "-c", "/etc/supervisor/supervisord.conf"]
