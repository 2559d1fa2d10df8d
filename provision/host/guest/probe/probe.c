/*
 * probe: the guest's side of the lab's measuring instrument.
 *
 * Three loops, one thread each:
 *   heartbeat  a UDP datagram to the observer every --hb-ms (see heartbeat.h
 *              and harness/heartbeat.py for the wire format);
 *   disk       a numbered, CRC32-checked 4 KiB record every --rec-ms, written
 *              with O_DIRECT|O_DSYNC into a ring of --ring slots; a record is
 *              acknowledged when its write returns;
 *   load       (off unless --load-mibs > 0 or the observer asks for it) dirties
 *              memory at a fixed rate, as a guest playing video would, so live
 *              migration has work to do.
 *
 * The same binary runs as PID 1's child in the guest or as a plain process
 * against a file, which is how the tests calibrate it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "wire.h"

struct config {
	struct sockaddr_in observer;
	long hb_ms;
	const char *disk;
	long rec_ms;
	uint64_t ring;
	uint64_t ring_offset;
	long load_mibs;
	long load_ws_mib;
};

static struct config cfg = {
	.hb_ms = 5, .rec_ms = 20, .ring = 4096, .load_ws_mib = 64,
};
static uint8_t boot_id[16];

/* Shared between the disk loop (writer) and the heartbeat loop (reader). */
static atomic_uint_fast64_t last_ack;       /* seq of the newest acknowledged record */
static atomic_uint_fast32_t max_lat_us;     /* largest write latency since last heartbeat */
static atomic_uint_fast64_t write_start_ns; /* monotonic start of the write in flight, 0 if none */
static atomic_uint_fast64_t disk_errors;
/* Memory load in MiB/s: from --load-mibs, changed at run time by the observer. */
static atomic_long load_mibs;
static int load_started; /* touched by main, then by the heartbeat thread only */

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_u16(uint8_t *p, uint16_t v) { v = htons(v); memcpy(p, &v, 2); }
static void put_u32(uint8_t *p, uint32_t v) { v = htonl(v); memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}
static uint64_t get_u64(const uint8_t *p)
{
	uint32_t hi, lo;
	memcpy(&hi, p, 4);
	memcpy(&lo, p + 4, 4);
	return ((uint64_t)ntohl(hi) << 32) | ntohl(lo);
}
static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return ntohl(v);
}

/* CRC-32 (IEEE 802.3), the same as Python's zlib.crc32. */
static uint32_t crc32(const uint8_t *buf, size_t len)
{
	static uint32_t table[256];
	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}

/* Sleep until *next, then schedule the following tick. After a pause (the
 * process stopped, the VM frozen) restart the schedule rather than sending a
 * burst of catch-up ticks, so gaps stay visible to the observer. */
static void tick(struct timespec *next, long period_ms)
{
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, next, NULL) == EINTR)
		;
	uint64_t period = (uint64_t)period_ms * 1000000ull;
	uint64_t due = (uint64_t)next->tv_sec * 1000000000ull + (uint64_t)next->tv_nsec + period;
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	if (due <= now)
		due = now + period;
	next->tv_sec = (time_t)(due / 1000000000ull);
	next->tv_nsec = (long)(due % 1000000000ull);
}

static void read_boot_id(void)
{
	char text[64] = {0};
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	int n = 0;
	if (f) {
		if (fgets(text, sizeof text, f)) {
			for (char *p = text; *p && n < 32; p++) {
				unsigned v;
				if (sscanf(p, "%1x", &v) != 1)
					continue;
				boot_id[n / 2] = (uint8_t)(boot_id[n / 2] << 4 | v);
				n++;
			}
		}
		fclose(f);
	}
	if (n != 32 && getrandom(boot_id, sizeof boot_id, 0) != (ssize_t)sizeof boot_id)
		perror("probe: boot id");
}

static void *load_loop(void *arg);

/* The observer may answer a heartbeat with a control datagram (CTL_MAGIC, u32
 * MiB/s) that sets the memory load, so one boot serves idle and loaded runs.
 * Only the observer's own address is obeyed. */
static void take_control(int fd)
{
	uint8_t msg[CTL_SIZE];
	struct sockaddr_in from;
	socklen_t len = sizeof from;
	ssize_t n;
	while ((n = recvfrom(fd, msg, sizeof msg, MSG_DONTWAIT, (struct sockaddr *)&from, &len)) >= 0) {
		len = sizeof from;
		if (n != CTL_SIZE || memcmp(msg + CTL_OFF_MAGIC, CTL_MAGIC, 4) ||
		    from.sin_addr.s_addr != cfg.observer.sin_addr.s_addr || from.sin_port != cfg.observer.sin_port)
			continue;
		long rate = (long)get_u32(msg + CTL_OFF_LOAD);
		if (rate != atomic_load(&load_mibs))
			fprintf(stderr, "probe: load now %ld MiB/s\n", rate);
		atomic_store(&load_mibs, rate);
		if (rate && !load_started) {
			pthread_t t;
			load_started = !pthread_create(&t, NULL, load_loop, NULL);
		}
	}
}

static void *heartbeat_loop(void *arg)
{
	(void)arg;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("probe: socket");
		exit(1);
	}
	uint8_t pkt[HB_SIZE];
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint64_t seq = 1;; seq++) {
		uint64_t mono = now_ns(CLOCK_MONOTONIC);
		uint64_t started = atomic_load(&write_start_ns);
		uint16_t flags = (cfg.disk ? HB_FLAG_DISK : 0) | (atomic_load(&load_mibs) ? HB_FLAG_LOAD : 0);
		memcpy(pkt + HB_OFF_MAGIC, HB_MAGIC, 4);
		put_u16(pkt + HB_OFF_VERSION, HB_VERSION);
		put_u16(pkt + HB_OFF_FLAGS, flags);
		put_u64(pkt + HB_OFF_SEQ, seq);
		put_u64(pkt + HB_OFF_MONO, mono);
		put_u64(pkt + HB_OFF_WALL, now_ns(CLOCK_REALTIME));
		memcpy(pkt + HB_OFF_BOOT_ID, boot_id, 16);
		put_u64(pkt + HB_OFF_UPTIME, now_ns(CLOCK_BOOTTIME));
		put_u64(pkt + HB_OFF_LAST_ACK, atomic_load(&last_ack));
		put_u32(pkt + HB_OFF_MAX_LAT, (uint32_t)atomic_exchange(&max_lat_us, 0));
		put_u32(pkt + HB_OFF_INFLIGHT,
			started && mono > started ? (uint32_t)((mono - started) / 1000) : 0);
		put_u64(pkt + HB_OFF_ERRORS, atomic_load(&disk_errors));
		/* A failed send is a lost heartbeat; the observer counts the gap. */
		sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&cfg.observer, sizeof cfg.observer);
		take_control(fd);
		tick(&next, cfg.hb_ms);
	}
	return NULL;
}

static void fill_record(uint8_t *rec, uint64_t seq, uint64_t slot)
{
	memcpy(rec + REC_OFF_MAGIC, REC_MAGIC, 4);
	put_u32(rec + REC_OFF_VERSION, REC_VERSION);
	put_u64(rec + REC_OFF_SEQ, seq);
	memcpy(rec + REC_OFF_BOOT_ID, boot_id, 16);
	put_u64(rec + REC_OFF_WALL, now_ns(CLOCK_REALTIME));
	put_u64(rec + REC_OFF_SLOT, slot);
	for (size_t i = REC_OFF_FILL; i < REC_OFF_CRC; i++)
		rec[i] = (uint8_t)(seq * 31 + i);
	put_u32(rec + REC_OFF_CRC, crc32(rec, REC_OFF_CRC));
}

static int record_valid(const uint8_t *rec)
{
	return memcmp(rec, REC_MAGIC, 4) == 0 && get_u32(rec + REC_OFF_CRC) == crc32(rec, REC_OFF_CRC);
}

static int open_disk(void)
{
	int fd = open(cfg.disk, O_RDWR | O_CREAT | O_DIRECT | O_DSYNC, 0644);
	if (fd < 0 && errno == EINVAL) {
		/* tmpfs and some test filesystems refuse O_DIRECT; O_DSYNC still
		 * makes "write returned" mean "on stable storage". */
		fprintf(stderr, "probe: %s refuses O_DIRECT, using O_DSYNC only\n", cfg.disk);
		fd = open(cfg.disk, O_RDWR | O_CREAT | O_DSYNC, 0644);
	}
	if (fd < 0) {
		perror(cfg.disk);
		exit(1);
	}
	struct stat st;
	uint64_t size = 0;
	fstat(fd, &st);
	if (S_ISBLK(st.st_mode))
		ioctl(fd, BLKGETSIZE64, &size);
	else
		size = (uint64_t)st.st_size;
	uint64_t need = cfg.ring_offset + cfg.ring * REC_SIZE;
	if (S_ISREG(st.st_mode) && size < need && ftruncate(fd, (off_t)need) == 0)
		size = need;
	if (size < cfg.ring_offset + REC_SIZE) {
		fprintf(stderr, "probe: %s is too small for a record ring\n", cfg.disk);
		exit(1);
	}
	if (size < need) {
		cfg.ring = (size - cfg.ring_offset) / REC_SIZE;
		fprintf(stderr, "probe: ring shrunk to %llu slots to fit %s\n",
			(unsigned long long)cfg.ring, cfg.disk);
	}
	return fd;
}

/* Continue after the newest valid record already on the disk, so that a
 * restarted guest extends the ring instead of overwriting what it proved.
 * The ring is read in large chunks: one O_DIRECT read per slot costs a
 * nested guest on an NFS disk minutes for a ring of thousands of slots. */
#define SCAN_CHUNK (1024 * 1024)
static uint64_t newest_on_disk(int fd)
{
	uint8_t *buf;
	if (posix_memalign((void **)&buf, 4096, SCAN_CHUNK)) {
		perror("probe: posix_memalign");
		exit(1);
	}
	uint64_t newest = 0;
	for (uint64_t slot = 0; slot < cfg.ring;) {
		uint64_t want = cfg.ring - slot < SCAN_CHUNK / REC_SIZE ? cfg.ring - slot : SCAN_CHUNK / REC_SIZE;
		ssize_t got = pread(fd, buf, want * REC_SIZE, (off_t)(cfg.ring_offset + slot * REC_SIZE));
		if (got < REC_SIZE)
			break; /* a short or failed read: what was read so far decides */
		uint64_t n = (uint64_t)got / REC_SIZE;
		for (uint64_t i = 0; i < n; i++) {
			const uint8_t *rec = buf + i * REC_SIZE;
			if (record_valid(rec) && get_u64(rec + REC_OFF_SEQ) > newest)
				newest = get_u64(rec + REC_OFF_SEQ);
		}
		slot += n;
	}
	free(buf);
	return newest;
}

static void *disk_loop(void *arg)
{
	(void)arg;
	int fd = open_disk();
	uint8_t *rec;
	if (posix_memalign((void **)&rec, 4096, REC_SIZE)) {
		perror("probe: posix_memalign");
		exit(1);
	}
	uint64_t seq = newest_on_disk(fd) + 1;
	atomic_store(&last_ack, seq - 1);
	fprintf(stderr, "probe: disk %s ring %llu slots, first record %llu\n", cfg.disk,
		(unsigned long long)cfg.ring, (unsigned long long)seq);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		uint64_t slot = seq % cfg.ring;
		fill_record(rec, seq, slot);
		uint64_t start = now_ns(CLOCK_MONOTONIC);
		atomic_store(&write_start_ns, start);
		ssize_t n = pwrite(fd, rec, REC_SIZE, (off_t)(cfg.ring_offset + slot * REC_SIZE));
		uint64_t lat_us = (now_ns(CLOCK_MONOTONIC) - start) / 1000;
		atomic_store(&write_start_ns, 0);
		uint_fast32_t seen = atomic_load(&max_lat_us);
		while (lat_us > seen && !atomic_compare_exchange_weak(&max_lat_us, &seen, (uint32_t)lat_us))
			;
		if (n == REC_SIZE) {
			atomic_store(&last_ack, seq);
			seq++;
		} else {
			/* Not acknowledged: the same record is written again next tick. */
			if (atomic_fetch_add(&disk_errors, 1) < 10)
				fprintf(stderr, "probe: write of record %llu: %s\n", (unsigned long long)seq,
					n < 0 ? strerror(errno) : "short write");
		}
		tick(&next, cfg.rec_ms);
	}
	return NULL;
}

static void *load_loop(void *arg)
{
	(void)arg;
	size_t pages = (size_t)cfg.load_ws_mib * 1024 * 1024 / 4096;
	uint8_t *ws = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ws == MAP_FAILED) {
		perror("probe: load working set");
		exit(1);
	}
	/* 100 ticks a second; carry the fraction so low rates are exact too. */
	uint64_t owed = 0;
	size_t cursor = 0;
	uint8_t stamp = 0;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		owed += (uint64_t)atomic_load(&load_mibs) * 1024 * 1024 / 4096;
		for (; owed >= 100; owed -= 100) {
			ws[cursor * 4096] = stamp;
			if (++cursor == pages) {
				cursor = 0;
				stamp++;
			}
		}
		tick(&next, 10);
	}
	return NULL;
}

static void usage(const char *why)
{
	fprintf(stderr,
		"probe: %s\n"
		"usage: probe --observer ADDR:PORT [--hb-ms N] [--disk PATH] [--rec-ms N]\n"
		"             [--ring SLOTS] [--ring-offset BYTES] [--load-mibs R] [--load-ws-mib W]\n",
		why);
	exit(2);
}

static long number(const char *name, const char *text, long min)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || *end || v < min) {
		fprintf(stderr, "probe: --%s wants an integer >= %ld, got '%s'\n", name, min, text);
		exit(2);
	}
	return v;
}

static void parse(int argc, char **argv)
{
	static const struct option opts[] = {
		{"observer", required_argument, 0, 'o'}, {"hb-ms", required_argument, 0, 'h'},
		{"disk", required_argument, 0, 'd'},     {"rec-ms", required_argument, 0, 'r'},
		{"ring", required_argument, 0, 'n'},     {"ring-offset", required_argument, 0, 'f'},
		{"load-mibs", required_argument, 0, 'l'}, {"load-ws-mib", required_argument, 0, 'w'},
		{0, 0, 0, 0},
	};
	int have_observer = 0, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': {
			char host[64];
			char *colon = strrchr(optarg, ':');
			if (!colon || colon - optarg >= (long)sizeof host)
				usage("--observer wants ADDR:PORT");
			memcpy(host, optarg, (size_t)(colon - optarg));
			host[colon - optarg] = 0;
			cfg.observer.sin_family = AF_INET;
			cfg.observer.sin_port = htons((uint16_t)number("observer port", colon + 1, 1));
			if (inet_pton(AF_INET, host, &cfg.observer.sin_addr) != 1)
				usage("--observer wants an IPv4 address");
			have_observer = 1;
			break;
		}
		case 'h': cfg.hb_ms = number("hb-ms", optarg, 1); break;
		case 'd': cfg.disk = *optarg ? optarg : NULL; break;
		case 'r': cfg.rec_ms = number("rec-ms", optarg, 1); break;
		case 'n': cfg.ring = (uint64_t)number("ring", optarg, 1); break;
		case 'f': cfg.ring_offset = (uint64_t)number("ring-offset", optarg, 0); break;
		case 'l': cfg.load_mibs = number("load-mibs", optarg, 0); break;
		case 'w': cfg.load_ws_mib = number("load-ws-mib", optarg, 1); break;
		default: usage("unknown option");
		}
	}
	if (!have_observer)
		usage("--observer is required");
	if (cfg.ring_offset % 4096)
		usage("--ring-offset must be a multiple of 4096");
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	read_boot_id();
	fprintf(stderr, "probe: heartbeat every %ld ms to %s:%u, disk %s every %ld ms, load %ld MiB/s over %ld MiB\n",
		cfg.hb_ms, inet_ntoa(cfg.observer.sin_addr), ntohs(cfg.observer.sin_port),
		cfg.disk ? cfg.disk : "off", cfg.rec_ms, cfg.load_mibs, cfg.load_ws_mib);
	pthread_t t;
	atomic_store(&load_mibs, cfg.load_mibs);
	if (cfg.disk)
		pthread_create(&t, NULL, disk_loop, NULL);
	if (cfg.load_mibs)
		load_started = !pthread_create(&t, NULL, load_loop, NULL);
	heartbeat_loop(NULL);
	return 0;
}
