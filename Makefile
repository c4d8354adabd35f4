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

PKGS := libpcap libnftnl libmnl libnftables jansson cunit
# Recursively expanded on purpose: evaluated when a recipe runs, after `deps` has installed them.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs libpcap libnftnl libmnl libnftables jansson)
CUNIT_LIBS = $(shell pkg-config --libs cunit jansson) # the tests read the JSON reports

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Wno-format-nonliteral
ifeq ($(WERROR),1)
WARN += -Werror
endif
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -pthread $(WARN) -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
	-Iinclude -DFLOWAUDIT_RULES_DIR='"$(DATADIR)"' $(PKG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = -pthread $(LDFLAGS) $(EXTRA_LDFLAGS)

LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:src/%.c=$(B)/%.o)
TEST_SRCS := $(wildcard tests/test_*.c) tests/testutil.c
TEST_OBJS := $(TEST_SRCS:tests/%.c=$(B)/tests/%.o)
SCENARIOS := $(wildcard pcaps/*.scenario)

.PHONY: all deps test demo check pcaps install clean bench fuzz fuzz-run
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

test: $(B)/flowaudit $(B)/test_flowaudit $(B)/mkpcap $(B)/replay_packet $(B)/replay_rules $(B)/replay_site
	FLOWAUDIT=$(B)/flowaudit MKPCAP=$(B)/mkpcap $(B)/test_flowaudit
	tests/lint/run.sh $(B)/flowaudit
	tests/e2e/outputs.sh $(B)/flowaudit
	tests/e2e/live.sh $(B)/flowaudit $(B)/mkpcap
	tests/e2e/reload.sh $(B)/flowaudit
	tests/e2e/nft.sh $(B)/flowaudit
	tests/e2e/app.sh $(B)/flowaudit
	tests/e2e/events.sh $(B)/flowaudit
	tests/e2e/merge.sh $(B)/flowaudit
	tests/e2e/infer.sh $(B)/flowaudit $(B)/mkpcap
	@for t in packet rules site; do \
	  set -- tests/fuzz/regress/$$t/*; [ -e "$$1" ] || continue; \
	  printf 'fuzz regressions (%s): ' $$t; $(B)/replay_$$t "$$@" || exit 1; done

# Fuzz harnesses: linked with libFuzzer for `make fuzz`, with a replay main for the regression inputs.
$(B)/replay_packet: tests/fuzz/replay.c tests/fuzz/fuzz_packet.c $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)
$(B)/replay_rules: tests/fuzz/replay.c tests/fuzz/fuzz_text.c $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)
$(B)/replay_site: tests/fuzz/replay.c tests/fuzz/fuzz_text.c $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -DFUZZ_SITE -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)
$(B)/fuzz_packet: tests/fuzz/fuzz_packet.c $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)
$(B)/fuzz_rules: tests/fuzz/fuzz_text.c $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)
$(B)/fuzz_site: tests/fuzz/fuzz_text.c $(LIB_OBJS)
	$(CC) $(ALL_CFLAGS) -DFUZZ_SITE -fsanitize=fuzzer -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)
$(B)/seeds: tests/fuzz/seeds.c | deps
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

# make bench: numbers, not assertions (docs/performance.md). BENCH_FLOWS and BENCH_RUNS to vary.
BENCH_FLOWS ?= 1000000
BENCH_RUNS ?= 3
$(B)/bench_floor: tools/bench_floor.c | deps
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS) $(PKG_LIBS)

$(B)/bench_mem: tools/bench_mem.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDFLAGS)

bench: $(B)/flowaudit $(B)/mkpcap $(B)/bench_floor $(B)/bench_mem
	tools/deps.sh bench || true
	tools/bench.sh $(B) $(BENCH_FLOWS) $(BENCH_RUNS)
	tools/bench-ir.sh $(B)

FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
# Each harness runs FUZZ_SECONDS from seeds (pcaps/, rules/, the corpus) plus what earlier runs found
# (build/fuzz/corpus-*); a crash leaves build/fuzz/crash-* and fails the target: copy it to
# tests/fuzz/regress/TARGET/ with the fix (a crash file of an earlier run fails no later one).
fuzz:
	tools/deps.sh check
	$(MAKE) FLAVOUR=fuzz CC=clang CFLAGS='$(FUZZ_CFLAGS)' fuzz-run

# A corpus directory that does not exist makes libFuzzer exit at once (make fuzz fuzzed nothing so until
# 2026-12-01), so tests/fuzz/regress/TARGET is passed only when it exists; a run without a DONE line fails.
fuzz-run: $(B)/fuzz_packet $(B)/fuzz_rules $(B)/fuzz_site $(B)/seeds
	mkdir -p $(B)/seed-packet $(B)/seed-rules $(B)/seed-site $(B)/corpus-packet $(B)/corpus-rules $(B)/corpus-site
	$(B)/seeds $(B)/seed-packet pcaps/*.pcap $$(ls $(CORPUS)/pcaps/*/*.pcap 2>/dev/null | head -400)
	cp rules/*.rules tests/lint/*.rules $(B)/seed-rules/
	cp rules/*.site tests/lint/*.site $(B)/seed-site/
	for t in packet rules site; do \
	  regress=; [ -d tests/fuzz/regress/$$t ] && regress=tests/fuzz/regress/$$t; \
	  : >$(B)/fuzz-$$t.start; \
	  $(B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(B)/crash-$$t- \
	    $(B)/corpus-$$t $(B)/seed-$$t $$regress >$(B)/fuzz-$$t.log 2>&1; \
	  crash=$$(find $(B) -maxdepth 1 -name "crash-$$t-*" -newer $(B)/fuzz-$$t.start); \
	  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)|ERROR|SUMMARY' $(B)/fuzz-$$t.log; \
	  grep -q 'DONE' $(B)/fuzz-$$t.log || test -n "$$crash" || \
	    { echo "fuzz_$$t did not run: $$(tail -1 $(B)/fuzz-$$t.log)"; exit 1; }; \
	  test -z "$$crash" || { echo "fuzz_$$t found a crash: $$crash"; exit 1; }; \
	done

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
	tests/apps.sh build/asan/flowaudit $(CORPUS)
	tests/html.sh build/asan/flowaudit build/asan/mkpcap build/asan

install: $(B)/flowaudit
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(B)/flowaudit $(DESTDIR)$(BINDIR)/flowaudit
	install -m 644 rules/peergfs.rules rules/demo.site $(DESTDIR)$(DATADIR)/
	install -m 644 docs/flowaudit.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 docs/flowaudit-rules.5 $(DESTDIR)$(MANDIR)/man5/

clean:
	rm -rf build
