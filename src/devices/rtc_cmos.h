/* MC146818 CMOS real-time clock: reads back host UTC time in BCD, 24-hour
 * mode; the rest of the 128-byte CMOS RAM is plain storage. */
#ifndef VIREO_DEVICES_RTC_CMOS_H
#define VIREO_DEVICES_RTC_CMOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define RTC_REG_CENTURY 0x32  /* as the FADT's CENTURY field says */

struct rtc_cmos {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t ram[128];
};

void rtc_cmos_init(struct rtc_cmos *r);
/* io_bus handler for ports 0x70 (index) and 0x71 (data). */
void rtc_cmos_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

#endif
