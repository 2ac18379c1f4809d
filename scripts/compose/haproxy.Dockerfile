# make compose-test: a local stand-in for HAProxy's official image, which cannot be pulled
# here. The same HAProxy (Debian's 2.6), the same config path, the same uid (99), the same
# foreground master-worker start.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/* \
    && groupmod -g 99 haproxy && usermod -u 99 -g 99 haproxy \
    && mkdir -p /usr/local/etc/haproxy
USER haproxy
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
