/* libFuzzer target: a hostile driver (vpci_driver.c) against the real
 * virtio-pci transport with the real virtio-console model behind it, on
 * the fuzzer's loop.  Transmit chains of any length and direction,
 * anywhere in RAM (the rings' own pages too) or past it, one or two
 * segments; receive buffers likewise.  Halfway, host input is pushed and
 * the output pipe is drained (until then it may fill, and the device must
 * hold the guest back, not buffer).  Afterwards every byte the device
 * says it wrote is in the pipe, and no more, and the input it counted is
 * what it said it took. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/console.h"
#include "vpci_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* rec[2..3]: offset in RAM, [4]: length shift and bits, [6]: flags
 * (0x10 writable, 0x20 two segments, 0x40 past the end of RAM). */
static int post_console(struct vdrv *d, unsigned q, const uint8_t *r)
{
    (void)q;
    unsigned a = vdrv_next_desc(d, q), b = vdrv_next_desc(d, q);
    uint16_t fl = r[6] & 0x10 ? VIRTQ_DESC_F_WRITE : 0;
    uint64_t at = VDRV_RAM_GPA + (uint64_t)((r[2] | r[3] << 8) % VDRV_RAM_SIZE);
    uint32_t len = (uint32_t)(r[4] & 0x1F) << (r[5] & 7);
    if (!(r[6] & 0x40) && at + len > VDRV_RAM_GPA + VDRV_RAM_SIZE)
        len = (uint32_t)(VDRV_RAM_GPA + VDRV_RAM_SIZE - at);
    if (r[6] & 0x20) {
        vdrv_set_desc(d, q, a, at, len / 2, (uint16_t)(fl | VIRTQ_DESC_F_NEXT), (uint16_t)b);
        vdrv_set_desc(d, q, b, at + len / 2, len - len / 2, r[7] & 1 ? VIRTQ_DESC_F_WRITE : fl, 0);
    } else {
        vdrv_set_desc(d, q, a, at, len, fl, 0);
    }
    return (int)a;
}

static uint64_t drain(int fd)
{
    static uint8_t buf[65536];
    uint64_t n = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        n += (uint64_t)r;
    return n;
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
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        abort();
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    static struct vdrv d;
    vdrv_init_ram(&d);
    char err[128];
    struct vcons *c = vcons_new("fuzz", p[1], &loop, err, sizeof(err));
    if (!c)
        abort();
    vdrv_attach(&d, vcons_dev(c), &loop, post_console);
    size_t half = (size - 1) / 16 * 8;
    vdrv_play(&d, data + 1, half);
    uint64_t out = drain(p[0]);
    static const uint8_t input[300] = "input";
    size_t want = data[0] + 1u, given = vcons_rx_push(c, input, want);
    if (given > want)
        abort();
    vdrv_play(&d, data + 1 + half, size - 1 - half);
    out += drain(p[0]);
    struct vcons_counters k;
    vcons_get_counters(c, &k);
    if (k.tx_bytes != out || k.rx_bytes != given)
        abort();
    vdrv_destroy(&d);
    vcons_free(c);
    close(p[0]);
    close(p[1]);
    return 0;
}
