# shouwang — plain GNU make.
#
#   make                      build/shouwangd, build/shouwangctl (and the man pages, if scdoc is there)
#   make man                  build/man/*.5, *.8 from man/*.scd (needs scdoc)
#   make check                every test (unit + integration) and check-man; same as CI
#   make check SANITIZE=address,undefined
#   make install PREFIX=/usr DESTDIR=/tmp/pkg
#   make bench | bench-quick  benchmarks (never part of make check)
#   make format               clang-format every source file
#   make deps                 install the Debian 12 packages we need (only the missing ones)
#
# Switches: V=1 (echo commands), WERROR=1 (warnings are errors; on under CI),
# SANITIZE=list, CC=, CFLAGS=, PREFIX=, DESTDIR=.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
# /etc whatever the PREFIX: the path is compiled in, and installers look for /etc/shouwang.
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d

VERSION := 0.1.0

CC      ?= cc
PKG_CONFIG ?= pkg-config
PKGS    := libsystemd sqlite3 libcjson libcurl libmicrohttpd inih libgpiod libcrypto

ifdef SANITIZE
BUILD   ?= build/sanitize
else
BUILD   ?= build
endif

ifeq ($(CI),true)
WERROR ?= 1
endif

WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter -Wmissing-prototypes \
           -Wstrict-prototypes -Wpointer-arith -Wvla -Wimplicit-fallthrough \
           -Wno-format-truncation  # messages are cut to their buffers on purpose
ifeq ($(WERROR),1)
WARN    += -Werror
endif

CFLAGS  ?= -O2 -g
# pkg-config runs when a recipe first needs the flags, not when make reads this
# file: "make deps check" on a fresh machine installs the packages first.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS = $(eval PKG_LIBS := $$(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null))$(PKG_LIBS)
CMOCKA_LIBS = $(eval CMOCKA_LIBS := $$(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null))$(CMOCKA_LIBS)
CPPFLAGS_ALL = -D_GNU_SOURCE -DSHOUWANG_VERSION='"$(VERSION)"' \
               -DSHOUWANG_SYSCONFDIR='"$(SYSCONFDIR)"' -DSHOUWANG_DATADIR='"$(DATADIR)"' \
               -I. $(PKG_CFLAGS)
CFLAGS_ALL := -std=gnu11 $(WARN) $(CFLAGS) -fno-strict-aliasing -MMD -MP
# --as-needed: a program is linked only with the libraries it calls (shouwangd loads neither
# libmicrohttpd nor libcrypto, and Paho comes by dlopen, sensors/mqtt.c).
LDLIBS_ALL = -Wl,--as-needed $(PKG_LIBS) -ldl -lpthread -lm

ifdef SANITIZE
CFLAGS_ALL += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Everything except the two entry points goes into one static library that
# the binaries and the tests link, so tests exercise the real objects.
MAINS     := daemon/shouwangd.c daemon/shouwangctl.c
LIB_SRCS  := $(filter-out $(MAINS),$(sort $(wildcard daemon/*.c sensors/*.c rules/*.c)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB       := $(BUILD)/libshouwang.a

# Test support code (process spawning, private Mosquitto, temp dirs).
TLIB_SRCS := $(sort $(wildcard tests/lib/*.c))
TLIB_OBJS := $(TLIB_SRCS:%.c=$(BUILD)/%.o)
# An archive, so a tool links only the helpers it uses (not cmocka's, say).
TLIB      := $(BUILD)/libshouwang-test.a

UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
INTEG_SRCS := $(sort $(wildcard tests/integration/test-*.c))
TESTS     := $(UNIT_SRCS:%.c=$(BUILD)/%) $(INTEG_SRCS:%.c=$(BUILD)/%)

# Helpers that tests run (emulated GPIO chip, fake servers...): tests/tools/*.c
# become executables, tests/preload/*.c become LD_PRELOAD libraries.
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOLS     := $(TOOL_SRCS:%.c=$(BUILD)/%)
PRELOAD_SRCS := $(sort $(wildcard tests/preload/*.c))
PRELOADS  := $(PRELOAD_SRCS:tests/preload/%.c=$(BUILD)/tests/preload/lib%.so)

BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCHES   := $(BENCH_SRCS:%.c=$(BUILD)/%)

BINS := $(BUILD)/shouwangd $(BUILD)/shouwangctl

# Man pages: man/NAME.SECTION.scd (scdoc) -> $(BUILD)/man/NAME.SECTION (roff).
# "make" builds them only when scdoc is installed, so a developer without it
# still gets the programs; "make man", "make install" and "make check" need
# them and stop with a hint when scdoc is missing (scripts/deps.sh installs it).
SCDOC     ?= scdoc
MAN_SRCS  := $(sort $(wildcard man/*.scd))
MANS      := $(MAN_SRCS:man/%.scd=$(BUILD)/man/%)
MAN_DIRS   = $(sort $(foreach m,$(MANS),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))))

.PHONY: all check check-unit check-integration install uninstall clean format deps bench bench-quick demo tests
.PHONY: man check-man man-skipped
all: $(BINS)
ifneq ($(shell command -v $(SCDOC) 2>/dev/null),)
all: $(MANS)
else
all: man-skipped
endif

man: $(MANS)

man-skipped:
	@echo "  NOTE    no $(SCDOC): man pages not built (make install and make check need them; scripts/deps.sh installs it)"

$(BUILD)/man/%: man/%.scd
	@mkdir -p $(dir $@)
	@command -v $(SCDOC) >/dev/null 2>&1 || { echo "$@: $(SCDOC) is missing: run scripts/deps.sh (or apt-get install scdoc)" >&2; exit 1; }
	@$(if $(Q),echo "  SCDOC   $@")
	$(Q)sed 's/@VERSION@/$(VERSION)/g' $< | $(SCDOC) > $@.tmp && mv $@.tmp $@

# Every page must format without one warning from man or groff (lintian checks the same way).
check-man: $(MANS)
	@command -v man >/dev/null 2>&1 || { echo "check-man needs man (man-db) and groff-base: run scripts/deps.sh" >&2; exit 1; }
	$(Q)fail=0; for m in $(MANS); do \
		out=$$(LC_ALL=C.UTF-8 MANROFFSEQ= MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z $$m 2>&1 >/dev/null) \
			|| out="$$out (man failed)"; \
		if [ -n "$$out" ]; then printf '  FAIL  %s\n%s\n' "$$m" "$$out"; fail=1; fi; \
	done; \
	[ $$fail -eq 0 ] && echo "  PASS  man pages: $(words $(MANS)) without warnings"

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS_ALL) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(TLIB): $(TLIB_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/shouwangd $(BUILD)/shouwangctl: $(BUILD)/%: $(BUILD)/daemon/%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(TESTS): $(BUILD)/%: $(BUILD)/%.o $(TLIB) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL) $(CMOCKA_LIBS)

$(TOOLS): $(BUILD)/%: $(BUILD)/%.o $(TLIB) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BENCHES): $(BUILD)/%: $(BUILD)/%.o $(TLIB) $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# Preload libraries are built without sanitizers: they are loaded into
# programs (gpiodetect, the daemon) whose sanitizer runtime must come first.
$(BUILD)/tests/preload/lib%.so: tests/preload/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS_ALL) -std=gnu11 $(WARN) -O2 -g -fPIC -shared -MMD -MP -o $@ $< -ldl -lpthread

tests: $(BINS) $(TESTS) $(TOOLS) $(PRELOADS)

# One runner for unit and integration tests; it prints "N passed, N failed".
check: tests check-man
	$(Q)BUILD=$(BUILD) tests/run-tests.sh $(TESTS)

check-unit: tests
	$(Q)BUILD=$(BUILD) tests/run-tests.sh $(UNIT_SRCS:%.c=$(BUILD)/%)

check-integration: tests
	$(Q)BUILD=$(BUILD) tests/run-tests.sh $(INTEG_SRCS:%.c=$(BUILD)/%)

bench: $(BINS) $(BENCHES) $(TOOLS) $(PRELOADS)
	$(Q)BUILD=$(BUILD) bench/run.sh

bench-quick: $(BINS) $(BENCHES) $(TOOLS) $(PRELOADS)
	$(Q)BUILD=$(BUILD) QUICK=1 bench/run.sh

demo: $(BINS) $(TOOLS) $(PRELOADS)
	$(Q)BUILD=$(BUILD) examples/demo.sh

deps:
	$(Q)scripts/deps.sh

install: $(BINS) $(MANS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(BUILD)/shouwangd $(DESTDIR)$(SBINDIR)/shouwangd
	install -m 0755 $(BUILD)/shouwangctl $(DESTDIR)$(BINDIR)/shouwangctl
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	$(if $(wildcard systemd/shouwang.service),install -m 0644 systemd/shouwang.service $(DESTDIR)$(UNITDIR)/shouwang.service)
	$(if $(wildcard systemd/sysusers.conf),install -m 0644 systemd/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/shouwang.conf)
	$(if $(wildcard systemd/tmpfiles.conf),install -m 0644 systemd/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/shouwang.conf)
	install -d $(DESTDIR)$(SYSCONFDIR)/shouwang
	@# The example config is installed only if none exists: an installer's edits survive.
	@# 0644: the service user must read it; secrets live in password_file, not here.
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/shouwang/shouwang.conf ]; then \
		install -m 0644 examples/shouwang.conf $(DESTDIR)$(SYSCONFDIR)/shouwang/shouwang.conf; \
	else echo "  keeping existing $(DESTDIR)$(SYSCONFDIR)/shouwang/shouwang.conf"; fi
	install -d $(DESTDIR)$(DATADIR)/shouwang/examples
	install -m 0644 examples/*.csv examples/shouwang.conf $(DESTDIR)$(DATADIR)/shouwang/examples/
	install -d $(DESTDIR)$(DATADIR)/shouwang/examples/exec $(DESTDIR)$(DATADIR)/shouwang/examples/webhooks
	install -m 0755 examples/exec/*.sh $(DESTDIR)$(DATADIR)/shouwang/examples/exec/
	install -m 0644 examples/webhooks/* $(DESTDIR)$(DATADIR)/shouwang/examples/webhooks/
	install -d $(DESTDIR)$(DATADIR)/shouwang/templates
	cp -R templates/zh_CN templates/en templates/README.md $(DESTDIR)$(DATADIR)/shouwang/templates/
	find $(DESTDIR)$(DATADIR)/shouwang/templates -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
	install -d $(MAN_DIRS)
	$(foreach m,$(MANS),install -m 0644 $(m) $(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m));)

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/shouwangd $(DESTDIR)$(BINDIR)/shouwangctl
	rm -f $(DESTDIR)$(UNITDIR)/shouwang.service $(DESTDIR)$(SYSUSERSDIR)/shouwang.conf $(DESTDIR)$(TMPFILESDIR)/shouwang.conf
	rm -rf $(DESTDIR)$(DATADIR)/shouwang
	rm -f $(foreach m,$(MANS),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))

FORMAT_SRCS = $(wildcard daemon/*.[ch] sensors/*.[ch] rules/*.[ch] tests/*/*.[ch] bench/*.[ch])
format:
	clang-format -i $(FORMAT_SRCS)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
