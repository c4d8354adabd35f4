/* bench_floor.c: the floor of `make bench`: a bare libpcap read loop (pcap_dispatch with a callback that
 * touches one byte per packet): what it costs libpcap to hand us the packets at all. Prints packets. */
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
	pcap_t *p = pcap_open_offline(argv[1], err);
	if (!p) {
		fprintf(stderr, "bench_floor: %s\n", err);
		return 2;
	}
	while (pcap_dispatch(p, 4096, touch, NULL) > 0)
		;
	pcap_close(p);
	printf("%llu packets (checksum %llu)\n", packets, checksum);
	return 0;
}
