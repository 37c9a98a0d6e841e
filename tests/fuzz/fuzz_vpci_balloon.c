/* libFuzzer target: a hostile driver (vpci_driver.c) against the real
 * virtio-pci transport with the real virtio-balloon model behind it, on
 * the fuzzer's loop, all four queues offered.  Requests are PFN lists
 * (inside RAM, in the rings' own pages, beyond RAM, repeated, odd
 * lengths, wrong direction, oversize), statistics buffers and reported
 * ranges.  Halfway the host sets a target and asks for statistics, as the
 * toolstack will.  Afterwards the balloon can never hold more pages than
 * the guest's RAM has. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/balloon.h"
#include "vpci_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_PFN (VDRV_RAM_GPA / VBALLOON_PAGE_SIZE)
#define RAM_PAGES (VDRV_RAM_SIZE / VBALLOON_PAGE_SIZE)

/* rec[2]: count, [3..4]: first PFN or offset, [5]: PFN pattern or
 * length, [6]: flags, [7]: more flags (bit 7: no kick, vpci_driver's). */
static int post_balloon(struct vdrv *d, unsigned q, const uint8_t *r)
{
    unsigned a = vdrv_next_desc(d, q), b = vdrv_next_desc(d, q);
    bool writable = r[6] & 0x10;
    if (q <= 1) {   /* inflate, deflate: le32 PFNs */
        unsigned n = r[2] & 0x3F;
        if (r[6] & 0x20)
            n = 1100;   /* past anything a driver sends */
        uint64_t buf = vdrv_buf(d, n * 4 + 4);
        uint32_t pfn = (uint32_t)(RAM_PFN + (r[3] % (RAM_PAGES + 2)));
        if (r[5] & 0x80)
            pfn = (uint32_t)(r[3] | r[4] << 8) << (r[5] & 15);   /* anywhere */
        for (unsigned i = 0; i < n && buf + 4 * i + 4 <= VDRV_RAM_GPA + VDRV_RAM_SIZE; i++) {
            uint32_t p = pfn + (r[5] & 3 ? i * (r[5] & 3) : i % 2);
            memcpy(vdrv_ptr(d, buf + 4 * i), &p, 4);
        }
        uint32_t len = n * 4 + (r[6] & 3);   /* odd lengths */
        vdrv_set_desc(d, q, a, buf, len, writable ? VIRTQ_DESC_F_WRITE : 0, 0);
        return (int)a;
    }
    if (q == 2) {   /* statistics: tag, value */
        unsigned n = r[2] % 24;
        uint64_t buf = vdrv_buf(d, n * 10 + 10);
        for (unsigned i = 0; i < n && buf + 10 * i + 10 <= VDRV_RAM_GPA + VDRV_RAM_SIZE; i++) {
            uint16_t tag = (uint16_t)((r[3] + i) % (r[4] & 1 ? 64 : 11));
            uint64_t val = (uint64_t)r[5] << (i % 56);
            memcpy(vdrv_ptr(d, buf + 10 * i), &tag, 2);
            memcpy(vdrv_ptr(d, buf + 10 * i + 2), &val, 8);
        }
        vdrv_set_desc(d, q, a, buf, n * 10 + (r[6] & 7), writable ? VIRTQ_DESC_F_WRITE : 0, 0);
        return (int)a;
    }
    /* Reporting: one or two ranges anywhere in RAM (the rings too). */
    uint64_t at = VDRV_RAM_GPA + (uint64_t)((r[3] | r[4] << 8) % VDRV_RAM_SIZE);
    uint32_t len = (uint32_t)(r[5] << (r[2] & 7));
    if (at + len > VDRV_RAM_GPA + VDRV_RAM_SIZE + (r[6] & 4 ? 4096 : 0))   /* sometimes past the end */
        len = (uint32_t)(VDRV_RAM_GPA + VDRV_RAM_SIZE - at);
    uint16_t fl = r[6] & 8 ? 0 : VIRTQ_DESC_F_WRITE;
    if (r[7] & 1) {
        vdrv_set_desc(d, q, a, at, len / 2, (uint16_t)(fl | VIRTQ_DESC_F_NEXT), (uint16_t)b);
        vdrv_set_desc(d, q, b, at + len / 2, len - len / 2, fl, 0);
    } else {
        vdrv_set_desc(d, q, a, at, len, fl, 0);
    }
    return (int)a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_loop loop;
    static bool ready;
    if (!ready) {
        event_loop_init(&loop);
        event_loop_set_owner(&loop);
        ready = true;
    }
    if (size < 1)
        return 0;
    static struct vdrv d;
    vdrv_init_ram(&d);
    struct vballoon_opts o = {.name = "fuzz", .stats = true, .deflate_on_oom = true, .reporting = true};
    char err[128];
    struct vballoon *b = vballoon_new(&o, &d.map, &loop, err, sizeof(err));
    if (!b)
        abort();
    vdrv_attach(&d, vballoon_dev(b), &loop, post_balloon);
    size_t half = (size - 1) / 16 * 8;
    vdrv_play(&d, data + 1, half);
    if (vballoon_set_target(b, data[0] % (RAM_PAGES + 4)) != (data[0] % (RAM_PAGES + 4) > RAM_PAGES ? -1 : 0))
        abort();
    vballoon_request_stats(b);
    vdrv_play(&d, data + 1 + half, size - 1 - half);
    struct vballoon_counters c;
    vballoon_get_counters(b, &c);
    unsigned in = 0;
    for (uint64_t p = 0; p < RAM_PAGES; p++)
        in += vballoon_page_ballooned(b, VDRV_RAM_GPA + p * VBALLOON_PAGE_SIZE);
    if (c.ballooned_pages > RAM_PAGES || c.ballooned_pages != in)
        abort();
    vdrv_destroy(&d);
    vballoon_free(b);
    return 0;
}
