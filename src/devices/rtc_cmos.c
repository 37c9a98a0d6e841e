#include "devices/rtc_cmos.h"

#include <string.h>
#include <time.h>

enum { REG_SEC = 0x00, REG_MIN = 0x02, REG_HOUR = 0x04, REG_WDAY = 0x06, REG_MDAY = 0x07,
       REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D };

#define REG_A_DEFAULT 0x26  /* 32.768 kHz time base, 1024 Hz rate, UIP clear */
#define REG_B_24H     0x02  /* 24-hour, BCD, no interrupts */
#define REG_D_VRT     0x80  /* battery good: Linux refuses an RTC without it */

static uint8_t bcd(int v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }

void rtc_cmos_init(struct rtc_cmos *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->ram[REG_A] = REG_A_DEFAULT;
    r->ram[REG_B] = REG_B_24H;
    r->ram[REG_D] = REG_D_VRT;
}

static uint8_t read_reg(struct rtc_cmos *r, uint8_t reg)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    switch (reg) {
    case REG_SEC: return bcd(tm.tm_sec);
    case REG_MIN: return bcd(tm.tm_min);
    case REG_HOUR: return bcd(tm.tm_hour);
    case REG_WDAY: return bcd(tm.tm_wday + 1);
    case REG_MDAY: return bcd(tm.tm_mday);
    case REG_MON: return bcd(tm.tm_mon + 1);
    case REG_YEAR: return bcd(tm.tm_year % 100);
    case RTC_REG_CENTURY: return bcd((tm.tm_year + 1900) / 100);
    case REG_C: return 0; /* no interrupt flags: we raise no RTC interrupts */
    default: return r->ram[reg];
    }
}

void rtc_cmos_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
    struct rtc_cmos *r = opaque;
    pthread_mutex_lock(&r->lock);
    if (offset == 0) {
        if (is_write)
            r->index = data[0] & 0x7F; /* bit 7 is the NMI mask, not part of the index */
        else
            memset(data, 0xFF, size);
    } else if (is_write) {
        /* The clock follows the host; the guest may still keep its own
         * settings in A/B and in the free CMOS bytes. */
        if (r->index > REG_YEAR && r->index != REG_C && r->index != REG_D &&
            r->index != RTC_REG_CENTURY)
            r->ram[r->index] = data[0];
    } else {
        data[0] = read_reg(r, r->index);
        if (size > 1)
            memset(data + 1, 0xFF, size - 1);
    }
    pthread_mutex_unlock(&r->lock);
}
