#include "microscope/devname.h"

#include <stdio.h>
#include <string.h>

#include "microscope/sample.h"

static struct {
    uint32_t dev;
    char name[32];
} cache[64];
static unsigned cached, next_slot;

const char *ms_devname(uint32_t dev)
{
    for (unsigned i = 0; i < cached; i++)
        if (cache[i].dev == dev)
            return cache[i].name;
    unsigned slot = next_slot++ % 64;
    if (cached < 64)
        cached++;
    cache[slot].dev = dev;
    snprintf(cache[slot].name, sizeof(cache[slot].name), "%u:%u", MS_DEV_MAJOR(dev), MS_DEV_MINOR(dev));
    char path[64], line[128];
    snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", MS_DEV_MAJOR(dev), MS_DEV_MINOR(dev));
    FILE *f = fopen(path, "r");
    if (!f)
        return cache[slot].name;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "DEVNAME=", 8))
            continue;
        line[strcspn(line, "\n")] = 0;
        snprintf(cache[slot].name, sizeof(cache[slot].name), "%.31s", line + 8);
        break;
    }
    fclose(f);
    return cache[slot].name;
}
