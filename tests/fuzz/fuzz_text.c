/* fuzz_text.c: libFuzzer harness for the rules parser (FUZZ_SITE undefined) or the site parser
 * (FUZZ_SITE defined, against rules/peergfs.rules). The input is written to a file in /dev/shm, since the
 * parsers read files (includes are resolved next to it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowaudit/rules.h"
#include "flowaudit/site.h"

static char path[64];           /* this process's input file */
#ifdef FUZZ_SITE
static struct rules pack;       /* the rule pack sites are parsed against */
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/dev/shm/flowaudit-fuzz-%d%s", (int)getpid(),
#ifdef FUZZ_SITE
		 ".site"
#else
		 ".rules"
#endif
	);
#ifdef FUZZ_SITE
	struct diag d;
	diag_init(&d);
	rules_init(&pack);
	if (rules_load(&pack, "rules/peergfs.rules", &d) < 0)
		abort();
	diag_free(&d);
#endif
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	struct diag d;
	diag_init(&d);
#ifdef FUZZ_SITE
	struct site s;
	site_load(&s, path, &pack, &d);
	site_free(&s);
#else
	struct rules r;
	rules_init(&r);
	rules_load(&r, path, &d);
	rules_free(&r);
#endif
	/* Printing exercises the caret code on whatever the diagnostics hold. */
	FILE *null = fopen("/dev/null", "w");
	if (null) {
		diag_print(&d, null);
		fclose(null);
	}
	diag_free(&d);
	unlink(path);
	return 0;
}
