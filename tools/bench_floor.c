/* bench_floor.c: the floor of `make bench`: a bare libpcap read loop (pcap_dispatch with a callback that
 * touches one byte per packet): what it costs libpcap to hand us the packets at all. Prints packets.
 * The file is read through a 1 MB stdio buffer, as flowaudit reads it (capture.c), so that the floor is
 * the best libpcap does, not what its default 4 KB buffer does. */
#include <pcap/pcap.h>
#include <stdio.h>

static unsigned long long packets, checksum; /* what the callback saw; printed so nothing is optimised away */

static void touch(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
	(void)user;
	packets++;
	checksum += h->caplen ? bytes[h->caplen / 2] : 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: bench_floor FILE.pcap\n");
		return 2;
	}
	char err[PCAP_ERRBUF_SIZE];
	static char buf[1 << 20];
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	pcap_t *p = pcap_fopen_offline(f, err);
	if (!p) {
		fprintf(stderr, "bench_floor: %s\n", err);
		fclose(f);
		return 2;
	}
	while (pcap_dispatch(p, 4096, touch, NULL) > 0)
		;
	pcap_close(p);
	printf("%llu packets (checksum %llu)\n", packets, checksum);
	return 0;
}
