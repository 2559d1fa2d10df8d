/* Wire and disk formats of the probe. All integers big-endian.
 * harness/heartbeat.py and harness/records.py read the same layouts:
 * change both sides and the version together. */
#ifndef PROBE_WIRE_H
#define PROBE_WIRE_H

/* Heartbeat datagram, 80 bytes. */
#define HB_MAGIC "HAHB"
#define HB_VERSION 1
#define HB_FLAG_DISK 1u
#define HB_FLAG_LOAD 2u
#define HB_OFF_MAGIC 0     /* 4 bytes */
#define HB_OFF_VERSION 4   /* u16 */
#define HB_OFF_FLAGS 6     /* u16 */
#define HB_OFF_SEQ 8       /* u64, from 1 */
#define HB_OFF_MONO 16     /* u64 ns, CLOCK_MONOTONIC (stops while the VM is paused) */
#define HB_OFF_WALL 24     /* u64 ns, CLOCK_REALTIME */
#define HB_OFF_BOOT_ID 32  /* 16 bytes, /proc/sys/kernel/random/boot_id */
#define HB_OFF_UPTIME 48   /* u64 ns, CLOCK_BOOTTIME */
#define HB_OFF_LAST_ACK 56 /* u64, newest acknowledged disk record, 0 = none */
#define HB_OFF_MAX_LAT 64  /* u32 us, largest write latency since the previous heartbeat */
#define HB_OFF_INFLIGHT 68 /* u32 us, age of the write in flight, 0 = none */
#define HB_OFF_ERRORS 72   /* u64, failed disk writes so far */
#define HB_SIZE 80

/* Control datagram, observer to probe: set the memory load. */
#define CTL_MAGIC "HACT"
#define CTL_OFF_MAGIC 0 /* 4 bytes */
#define CTL_OFF_LOAD 4  /* u32 MiB/s, 0 = off */
#define CTL_SIZE 8

/* Disk record, one 4 KiB slot of the ring; CRC-32 over everything before it. */
#define REC_MAGIC "HARC"
#define REC_VERSION 1
#define REC_SIZE 4096
#define REC_OFF_MAGIC 0    /* 4 bytes */
#define REC_OFF_VERSION 4  /* u32 */
#define REC_OFF_SEQ 8      /* u64, from 1 */
#define REC_OFF_BOOT_ID 16 /* 16 bytes */
#define REC_OFF_WALL 32    /* u64 ns */
#define REC_OFF_SLOT 40    /* u64 */
#define REC_OFF_FILL 48    /* pattern byte i = seq * 31 + i */
#define REC_OFF_CRC 4092   /* u32 */

#endif
