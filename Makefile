# supervisor-haproxy: make demo runs the main job, make test passes the tests.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=
NAME := supervisor-haproxy
STATIC := .build-static/release/$(NAME)
VERSION := $(shell sed -n 's/^public let version = "\(.*\)"/\1/p' Sources/SupervisorHAProxy/Commands/Dispatch.swift)
FUZZ_SECONDS ?= 30

.PHONY: all build release static test demo bench fuzz install uninstall clean deps wheel deb compose-test compat

all: release

build:
	swift build

release:
	swift build -c release

# One fully static, stripped executable: no Swift runtime, no libc needed on the host.
static:
	swift build -c release --scratch-path .build-static --static-swift-stdlib -Xswiftc -static-executable -Xlinker -s

deps:
	@scripts/ensure-deps haproxy supervisord supervisorctl socat valgrind file setpriv unshare pgrep ss uwsgi python3 python3-venv python3-yaml lintian cc make

# Builds, then runs every suite, the compat subset (HAProxy 3.0 and 3.4 x supervisor 4.3.0),
# docker-compose.yml for real and 5 s of each fuzz target, five at a time
# (scripts/test-suites; TEST_JOBS=1 for one at a time).
TEST_JOBS ?= 5
test: deps
	swift build --build-tests
	swift build -c release
	$(MAKE) static
	SH_STATIC_BINARY=$(STATIC) scripts/test-suites $(TEST_JOBS)

demo: release
	@scripts/ensure-deps haproxy supervisord supervisorctl socat
	scripts/demo .build/release/$(NAME)

bench: release
	@scripts/ensure-deps haproxy socat
	$(MAKE) static
	cc -O2 -o .build/bench-floor bench/floor.c
	swiftc -O -static-executable -Xlinker -s bench/print.swift -o .build/bench-print 2>/dev/null
	python3 bench/bench.py --listener .build/release/$(NAME) --floor .build/bench-floor --static $(STATIC) --print .build/bench-print

fuzz:
	scripts/fuzz $(FUZZ_SECONDS)

# A Python wheel carrying the static binary (pip and buildout install it as the egg was).
wheel: static
	python3 packaging/make-wheel.py $(STATIC) $(VERSION) dist

# A Debian package of the static binary and its man page.
deb: static
	packaging/make-deb $(STATIC) $(VERSION) dist

# The end-to-end subset against every HAProxy in ../shared/haproxy/ (built once, cached
# outside the clone) and Debian's, each with Debian's supervisord and 4.3.0 from PyPI.
compat: deps
	swift build --build-tests
	$(MAKE) static
	SH_STATIC_BINARY=$(STATIC) scripts/compat

# docker-compose.yml for real: images built locally, the stack up, checked, torn down.
compose-test:
	scripts/compose-test

install: static
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(STATIC) $(DESTDIR)$(BINDIR)/$(NAME)
	install -m 644 man/$(NAME).1 $(DESTDIR)$(MANDIR)/man1/$(NAME).1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/$(NAME) $(DESTDIR)$(MANDIR)/man1/$(NAME).1

clean:
	rm -rf .build .build-static .build-fuzz dist
