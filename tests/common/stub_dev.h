/* A stub virtio device model for the transport tests (virtio-pci and
 * vhost-user, unit and fuzz): it checks every call against the
 * virtio_dev_ops contract and records what the transport asked of it.
 * No cmocka here, so the fuzz target can link it too. */
#ifndef VIREO_TESTS_STUB_DEV_H
#define VIREO_TESTS_STUB_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"

#define STUB_NQ      2
#define STUB_QMAX    256
#define STUB_CFG_LEN 16
/* Test-only feature bit the stub offers, so "offered" differs from "all". */
#define STUB_F_DEV   5
#define STUB_HOST_FEATURES (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(STUB_F_DEV))

struct vu_backend;

struct stub_dev {
    struct virtio_dev d;       /* first: the ops get &d */
    uint8_t config[STUB_CFG_LEN];
    unsigned starts[STUB_NQ], stops[STUB_NQ];
    unsigned start_calls;
    const struct vq *vq[STUB_NQ];
    struct vq vq_at_start[STUB_NQ];
    int kick_fd[STUB_NQ];
    uint64_t features_at_start;
    unsigned config_oob;       /* accesses outside config[], each also a breach */
    unsigned breaches;         /* of the virtio_dev_ops contract */
    const char *first_breach;

    /* Set by the test after stub_dev_init; all optional. */

    /* Behind a vhost-user back-end, rings must lie in its own mappings,
     * not merely be non-NULL. */
    const struct vu_backend *vu;
    /* Features the transport must have negotiated before any start. */
    uint64_t start_needs;
    /* Nonzero: queue_stop reports stop_base + q, a value the test can
     * tell apart.  Zero: the ring's own last_avail, as a real device would. */
    uint16_t stop_base;
    /* Whether the device refuses a start it has found no fault with, as
     * one that cannot serve the queue would. */
    bool (*refuse_start)(const struct vq *vq);
    /* Called on each breach after it is recorded.  Unset for cmocka
     * tests, which check with stub_dev_check after the transport returns:
     * an assert in a callback would longjmp out of the transport halfway
     * through a call, its lock held. */
    void (*on_breach)(const char *what);
};

/* Offers STUB_HOST_FEATURES, STUB_NQ queues of up to STUB_QMAX, and
 * config[] filled by stub_dev_fill_config. */
void stub_dev_init(struct stub_dev *s);
/* A recognisable pattern: byte i is 0xA0 + i. */
void stub_dev_fill_config(struct stub_dev *s);
/* Queues started and not stopped since. */
unsigned stub_dev_running(const struct stub_dev *s);

/* For cmocka tests: fails the test on any breach recorded so far.  A
 * macro, as the fuzz target has no cmocka to call. */
#define stub_dev_check(s)                                                                  \
    do {                                                                                   \
        const struct stub_dev *s_ = (s);                                                   \
        if (s_->breaches)                                                                  \
            fail_msg("%u breach(es) of the device contract, first: %s", s_->breaches,      \
                     s_->first_breach);                                                    \
    } while (0)

/* Mappings in this process of the memfd created with this name; UINT_MAX
 * if they cannot be counted, which no caller expects. */
unsigned count_memfd_maps(const char *name);

#endif
