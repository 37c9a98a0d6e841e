/* The qcow2 core driven with synchronous data I/O on the calling thread:
 * for `vireo image`, the tests and the fuzzer, and the model the
 * asynchronous adapter follows (map, move the data, end the ticket;
 * prepare, copy-on-write, write, done). */
#ifndef VIREO_BLOCK_QCOW2_SYNC_H
#define VIREO_BLOCK_QCOW2_SYNC_H

#include "block/qcow2.h"

/* Any image of a chain (raw or qcow2); past its size it reads zeroes. */
int qcow2_link_read(const struct qcow2_link *l, void *buf, uint64_t len, uint64_t off);

/* 0 or -errno; ranges inside the disk. */
int qcow2_sync_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t off);
int qcow2_sync_write(struct qcow2 *q, const void *buf, uint64_t len, uint64_t off);
/* Whole clusters inside the range are deallocated; partial ones are left
 * alone (a discard is advice, as in QEMU). */
int qcow2_sync_discard(struct qcow2 *q, uint64_t off, uint64_t len);
/* Reads as zeroes afterwards: whole clusters deallocated, the rest
 * written with zeroes. */
int qcow2_sync_write_zeroes(struct qcow2 *q, uint64_t off, uint64_t len);

#endif
