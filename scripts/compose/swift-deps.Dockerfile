# make compose-test: the packages of the official swift:*-bookworm image, on the local Debian
# image; the toolchain itself is copied in from this machine's (it cannot be downloaded here).
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils-gold libicu-dev libcurl4-openssl-dev \
       libedit-dev libsqlite3-dev libncurses-dev libpython3-dev libxml2-dev pkg-config uuid-dev \
       tzdata git gcc libc6-dev libstdc++-12-dev \
    && rm -rf /var/lib/apt/lists/*
