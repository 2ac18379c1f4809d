# supervisord with the static supervisor-haproxy, for docker-compose.yml.
FROM swift:6.1-bookworm AS build
WORKDIR /src
COPY Package.swift Makefile ./
COPY Sources ./Sources
RUN make static

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends supervisor python3 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/run/supervisor
COPY --from=build /src/.build-static/release/supervisor-haproxy /usr/local/bin/supervisor-haproxy
COPY examples/supervisord.conf /etc/supervisor/supervisord.conf
CMD ["supervisord", "-c", "/etc/supervisor/supervisord.conf"]
