# flowaudit: proving from packets alone that a firewall lets PeerGFS talk.
# make            build build/release/flowaudit
# make test       CUnit suites and end-to-end tests (installs missing build dependencies first)
# make demo       audit the bundled demo capture against rules/demo.site
# make check      the tests under ASan/UBSan, plus every capture of ../shared/corpus
# make pcaps      regenerate pcaps/*.pcap from pcaps/*.scenario with tools/mkpcap
# make install    PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/flowaudit
MANDIR ?= $(PREFIX)/share/man
CORPUS ?= ../shared/corpus

CC ?= cc
CFLAGS ?= -O2 -g
WERROR ?= 1
FLAVOUR ?= release
B := build/$(FLAVOUR)

PKGS := libpcap libnftnl libmnl jansson cunit
# Recursively expanded on purpose: evaluated when a recipe runs, after `deps` has installed them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs libpcap jansson)
CUNIT_LIBS = $(shell pkg-config --libs cunit)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral
ifeq ($(WERROR),1)
WARN += -Werror
endif
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
	-Iinclude -DFLOWAUDIT_RULES_DIR='"$(DATADIR)"' $(PKG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)

LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(B)/%.o)
TEST_SRCS := $(wildcard tests/test_*.c) tests/testutil.c
TEST_OBJS := $(TEST_SRCS:tests/%.c=$(B)/tests/%.o)
SCENARIOS := $(wildcard pcaps/*.scenario)

.PHONY: all deps test demo check pcaps install clean bench fuzz
all: $(B)/flowaudit

# Installs missing Debian packages (as root), or says which; a no-op when everything is present.
deps:
	@pkg-config --exists $(PKGS) 2>/dev/null && test -f /usr/include/uthash.h || tools/deps.sh

$(B)/%.o: src/%.c $(wildcard include/flowaudit/*.h) | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests/%.o: tests/%.c $(wildcard include/flowaudit/*.h) tests/testutil.h | deps
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -c -o $@ $<

$(B)/flowaudit: $(B)/main.o $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

$(B)/mkpcap: tools/mkpcap.c $(B)/util.o | deps
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

$(B)/test_flowaudit: $(TEST_OBJS) $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS) $(CUNIT_LIBS)

test: $(B)/flowaudit $(B)/test_flowaudit $(B)/mkpcap
	FLOWAUDIT=$(B)/flowaudit MKPCAP=$(B)/mkpcap $(B)/test_flowaudit
	tests/lint/run.sh $(B)/flowaudit

demo: $(B)/flowaudit
	@echo '$$ flowaudit audit -r pcaps/demo.pcap -s rules/demo.site'
	@$(B)/flowaudit audit -r pcaps/demo.pcap -s rules/demo.site; rc=$$?; \
	  echo "(exit status $$rc: 0 all verified, 1 findings, 2 bad input)"; test $$rc -le 1

pcaps: $(B)/mkpcap
	for s in $(SCENARIOS); do $(B)/mkpcap $$s $${s%.scenario}.pcap || exit 1; done

check:
	tools/deps.sh check
	$(MAKE) FLAVOUR=asan CC=clang CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' test
	$(MAKE) FLAVOUR=asan CC=clang CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' build/asan/flowaudit
	tests/corpus.sh build/asan/flowaudit $(CORPUS)

install: $(B)/flowaudit
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(B)/flowaudit $(DESTDIR)$(BINDIR)/flowaudit
	install -m 644 rules/peergfs.rules rules/demo.site $(DESTDIR)$(DATADIR)/
	install -m 644 docs/flowaudit.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 docs/flowaudit-rules.5 $(DESTDIR)$(MANDIR)/man5/

clean:
	rm -rf build
