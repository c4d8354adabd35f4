/* seeds.c: turns captures into packet-harness seeds: one file per frame, prefixed with the link-type
 * selector and a zero cut. Usage: seeds OUTDIR FILE.pcap... */
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

static const int dlts[] = {1, 113, 276, 12, 228, 229, 0, 108, 9, 50, 104, 107, 239, 10, 226, 105, 127, 192};

int main(int argc, char **argv)
{
	int n = 0;
	for (int i = 2; i < argc; i++) {
		char err[PCAP_ERRBUF_SIZE];
		pcap_t *p = pcap_open_offline(argv[i], err);
		if (!p)
			continue;
		int sel = -1;
		for (size_t k = 0; k < sizeof(dlts) / sizeof(dlts[0]); k++)
			if (dlts[k] == pcap_datalink(p))
				sel = (int)k;
		struct pcap_pkthdr *h;
		const u_char *d;
		for (int k = 0; sel >= 0 && k < 200 && pcap_next_ex(p, &h, &d) == 1; k++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/seed-%d", argv[1], n++);
			FILE *f = fopen(path, "wb");
			if (!f)
				return 2;
			unsigned char hdr[3] = {(unsigned char)sel, 0, 0};
			fwrite(hdr, 1, 3, f);
			fwrite(d, 1, h->caplen, f);
			fclose(f);
		}
		pcap_close(p);
	}
	printf("%d seeds\n", n);
	return 0;
}
