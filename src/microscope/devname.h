#ifndef VIREO_MS_DEVNAME_H
#define VIREO_MS_DEVNAME_H

#include <stdint.h>

/* "loop0" for 7:0, from /sys/dev/block/MAJ:MIN/uevent; "MAJ:MIN" when the
 * device is gone.  The result stays valid until the next call with a
 * device not seen before (a small cache). */
const char *ms_devname(uint32_t dev);

#endif
