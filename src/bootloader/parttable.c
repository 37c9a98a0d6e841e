#include "bootloader/parttable.h"
#include "util/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MBR_SIZE        512
#define MBR_TABLE       446
#define MBR_SIG_OFF     510
#define MBR_ID_OFF      440
#define MBR_TYPE_GPT    0xEE
#define GPT_SIG         "EFI PART"
#define GPT_HDR_MIN     92
#define GPT_REVISION    0x00010000u

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

const char *pt_scheme_name(enum pt_scheme s)
{
    return s == PT_GPT ? "gpt" : s == PT_MBR ? "msdos" : "none";
}

void pt_guid_format(const uint8_t g[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[3], g[2], g[1],
             g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

static int disk_read(const struct bl_disk *d, uint64_t off, void *buf, size_t len, char *err, size_t errlen)
{
    if (off > d->size || len > d->size - off)
        return err_fail(err, errlen, "internal error: read past the end of the disk");
    if (d->read(d->ctx, off, buf, len) < 0)
        return err_fail(err, errlen, "reading the disk at byte %llu: %s", (unsigned long long)off, strerror(errno));
    return 0;
}

/* Every partition inside the disk (checked as they are added), and no two
 * overlapping.  Numbers name them in messages as GRUB and Linux do. */
static int check_overlaps(const struct pt_table *t, const char *what, char *err, size_t errlen)
{
    for (unsigned i = 0; i < t->n; i++) {
        for (unsigned j = i + 1; j < t->n; j++) {
            const struct pt_part *a = &t->parts[i], *b = &t->parts[j];
            if (a->start < b->start + b->size && b->start < a->start + a->size)
                return err_fail(err, errlen, "%s partitions %u and %u overlap (sectors %llu-%llu and %llu-%llu)", what,
                            a->number, b->number, (unsigned long long)(a->start / t->sector),
                            (unsigned long long)((a->start + a->size) / t->sector - 1),
                            (unsigned long long)(b->start / t->sector),
                            (unsigned long long)((b->start + b->size) / t->sector - 1));
        }
    }
    return 0;
}

/* ---- MBR ---- */

struct mbr_entry {
    uint8_t status, type;
    uint32_t lba, count;
};

static void mbr_entry(const uint8_t *sec, unsigned i, struct mbr_entry *e)
{
    const uint8_t *p = sec + MBR_TABLE + 16 * i;
    e->status = p[0];
    e->type = p[4];
    e->lba = le32(p + 8);
    e->count = le32(p + 12);
}

static bool is_extended(uint8_t type)
{
    return type == 0x05 || type == 0x0F || type == 0x85;
}

static int add_part(struct pt_table *t, unsigned number, uint64_t start_lba, uint64_t count, uint64_t disk_sectors,
                    const char *what, char *err, size_t errlen)
{
    if (!count)
        return err_fail(err, errlen, "%s partition %u has no sectors", what, number);
    if (start_lba == 0)
        return err_fail(err, errlen, "%s partition %u starts at sector 0, over the partition table", what, number);
    if (start_lba >= disk_sectors || count > disk_sectors - start_lba)
        return err_fail(err, errlen, "%s partition %u (sectors %llu-%llu) runs past the end of the disk (%llu sectors)",
                    what, number, (unsigned long long)start_lba, (unsigned long long)(start_lba + count - 1),
                    (unsigned long long)disk_sectors);
    if (t->n == PT_MAX_PARTS)
        return err_fail(err, errlen, "%s: more than %d partitions", what, PT_MAX_PARTS);
    struct pt_part *p = &t->parts[t->n++];
    memset(p, 0, sizeof(*p));
    p->number = number;
    p->start = start_lba * t->sector;
    p->size = count * t->sector;
    return 0;
}

/* The extended partition's chain of EBRs: each holds one logical
 * partition (relative to itself) and the next EBR (relative to the
 * extended partition's start). */
static int mbr_logical(const struct bl_disk *d, struct pt_table *t, const struct mbr_entry *ext, char *err,
                       size_t errlen)
{
    uint64_t ext_start = ext->lba, ext_end = (uint64_t)ext->lba + ext->count, ebr = ext_start;
    uint8_t sec[MBR_SIZE];
    for (unsigned n = 0;; n++) {
        if (n == PT_MAX_LOGICAL)
            return err_fail(err, errlen, "MBR: more than %d logical partitions (a loop in the extended partition's "
                        "chain?)", PT_MAX_LOGICAL);
        if (disk_read(d, ebr * MBR_SIZE, sec, sizeof(sec), err, errlen) < 0)
            return -1;
        if (sec[MBR_SIG_OFF] != 0x55 || sec[MBR_SIG_OFF + 1] != 0xAA)
            return err_fail(err, errlen, "MBR: the extended partition's table at sector %llu has no 0x55AA signature",
                        (unsigned long long)ebr);
        struct mbr_entry l, next;
        mbr_entry(sec, 0, &l);
        mbr_entry(sec, 1, &next);
        unsigned number = 5 + n;
        if (l.type) {
            uint64_t start = ebr + l.lba;
            if (!l.lba || start >= ext_end || l.count > ext_end - start)
                return err_fail(err, errlen, "MBR logical partition %u (sectors %llu-%llu) is not inside its extended "
                            "partition (sectors %llu-%llu)", number, (unsigned long long)start,
                            (unsigned long long)(start + l.count - 1), (unsigned long long)ext_start,
                            (unsigned long long)(ext_end - 1));
            if (add_part(t, number, start, l.count, d->size / MBR_SIZE, "MBR logical", err, errlen) < 0)
                return -1;
            t->parts[t->n - 1].mbr_type = l.type;
        }
        if (!next.type)
            return 0;
        if (!is_extended(next.type) || !next.lba || next.lba >= ext->count)
            return err_fail(err, errlen, "MBR: the extended partition's chain points outside it (entry after logical "
                        "partition %u)", number);
        ebr = ext_start + next.lba;
    }
}

static int mbr_parse(const struct bl_disk *d, const uint8_t *sec, struct pt_table *t, char *err, size_t errlen)
{
    uint64_t sectors = d->size / MBR_SIZE;
    t->scheme = PT_MBR;
    t->sector = MBR_SIZE;
    t->mbr_id = le32(sec + MBR_ID_OFF);
    const struct mbr_entry *ext = NULL;
    struct mbr_entry e[4];
    for (unsigned i = 0; i < 4; i++) {
        mbr_entry(sec, i, &e[i]);
        if (!e[i].type)
            continue;
        if (is_extended(e[i].type)) {
            if (ext)
                return err_fail(err, errlen, "MBR has two extended partitions (%u and %u)",
                            (unsigned)(ext - e) + 1, i + 1);
            ext = &e[i];
        }
        if (add_part(t, i + 1, e[i].lba, e[i].count, sectors, "MBR", err, errlen) < 0)
            return -1;
        t->parts[t->n - 1].mbr_type = e[i].type;
    }
    if (check_overlaps(t, "MBR", err, errlen) < 0)
        return -1;
    if (ext) {
        /* The extended container is not a file system: keep its logical
         * partitions instead, and check those against the primaries. */
        unsigned keep = 0;
        for (unsigned i = 0; i < t->n; i++)
            if (!is_extended(t->parts[i].mbr_type))
                t->parts[keep++] = t->parts[i];
        t->n = keep;
        if (mbr_logical(d, t, ext, err, errlen) < 0 || check_overlaps(t, "MBR", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* A boot sector whose table is not a partition table: a FAT or NTFS file
 * system on the whole disk also ends in 0x55AA. */
static bool mbr_plausible(const uint8_t *sec)
{
    bool any = false;
    for (unsigned i = 0; i < 4; i++) {
        struct mbr_entry e;
        mbr_entry(sec, i, &e);
        if (e.status != 0 && e.status != 0x80)
            return false;
        any |= e.type != 0;
    }
    return any;
}

/* ---- GPT ---- */

struct gpt_hdr {
    uint64_t my_lba, alt_lba, first, last, entries_lba;
    uint32_t nentries, entry_size, entries_crc;
    uint8_t disk_guid[16];
};

/* Checks the header at lba; -1 with what is wrong. */
static int gpt_header(const struct bl_disk *d, unsigned sector, uint64_t lba, struct gpt_hdr *h, char *err,
                      size_t errlen)
{
    uint64_t sectors = d->size / sector;
    uint8_t buf[4096];
    if (disk_read(d, lba * sector, buf, sector, err, errlen) < 0)
        return -1;
    if (memcmp(buf, GPT_SIG, 8))
        return err_fail(err, errlen, "no GPT signature at sector %llu", (unsigned long long)lba);
    uint32_t rev = le32(buf + 8), hsize = le32(buf + 12), crc = le32(buf + 16);
    if (rev != GPT_REVISION)
        return err_fail(err, errlen, "unknown GPT revision 0x%08x at sector %llu", rev, (unsigned long long)lba);
    if (hsize < GPT_HDR_MIN || hsize > sector)
        return err_fail(err, errlen, "GPT header size %u at sector %llu is not between %d and %u", hsize,
                    (unsigned long long)lba, GPT_HDR_MIN, sector);
    memset(buf + 16, 0, 4);
    if ((uint32_t)crc32(0, buf, hsize) != crc)
        return err_fail(err, errlen, "GPT header at sector %llu has a bad CRC", (unsigned long long)lba);
    h->my_lba = le64(buf + 24);
    h->alt_lba = le64(buf + 32);
    h->first = le64(buf + 40);
    h->last = le64(buf + 48);
    memcpy(h->disk_guid, buf + 56, 16);
    h->entries_lba = le64(buf + 72);
    h->nentries = le32(buf + 80);
    h->entry_size = le32(buf + 84);
    h->entries_crc = le32(buf + 88);
    if (h->my_lba != lba)
        return err_fail(err, errlen, "GPT header at sector %llu says it is at sector %llu", (unsigned long long)lba,
                    (unsigned long long)h->my_lba);
    if (h->last >= sectors)
        return err_fail(err, errlen, "the GPT at sector %llu was made for a larger disk: its partitions may use sectors "
                    "up to %llu, but the disk has %llu (was the image truncated?)", (unsigned long long)lba,
                    (unsigned long long)h->last, (unsigned long long)sectors);
    if (h->first > h->last)
        return err_fail(err, errlen, "GPT usable sectors start (%llu) after they end (%llu)", (unsigned long long)h->first,
                    (unsigned long long)h->last);
    if (h->nentries > PT_MAX_GPT_ENTRIES)
        return err_fail(err, errlen, "GPT header declares %u partition entries; at most %d are supported", h->nentries,
                    PT_MAX_GPT_ENTRIES);
    if (h->entry_size < 128 || h->entry_size > PT_MAX_GPT_ENTRY || h->entry_size % 8)
        return err_fail(err, errlen, "GPT partition entries of %u bytes; expected a multiple of 8 from 128 to %d",
                    h->entry_size, PT_MAX_GPT_ENTRY);
    uint64_t bytes = (uint64_t)h->nentries * h->entry_size;
    uint64_t esectors = (bytes + sector - 1) / sector;
    if (h->entries_lba < 2 || h->entries_lba >= sectors || esectors > sectors - h->entries_lba)
        return err_fail(err, errlen, "GPT partition entries (sector %llu, %llu bytes) are not inside the disk",
                    (unsigned long long)h->entries_lba, (unsigned long long)bytes);
    if (h->entries_lba <= lba && lba < h->entries_lba + esectors)
        return err_fail(err, errlen, "GPT partition entries overlap their own header");
    return 0;
}

static int gpt_entries(const struct bl_disk *d, unsigned sector, const struct gpt_hdr *h, struct pt_table *t,
                       char *err, size_t errlen)
{
    size_t bytes = (size_t)h->nentries * h->entry_size;
    uint8_t *buf = malloc(bytes ? bytes : 1);
    if (!buf)
        return err_fail(err, errlen, "out of memory");
    int r = -1;
    if (disk_read(d, h->entries_lba * sector, buf, bytes, err, errlen) < 0)
        goto out;
    if ((uint32_t)crc32(0, buf, (uInt)bytes) != h->entries_crc) {
        err_fail(err, errlen, "GPT partition entries at sector %llu have a bad CRC", (unsigned long long)h->entries_lba);
        goto out;
    }
    static const uint8_t unused[16];
    t->n = 0;
    for (uint32_t i = 0; i < h->nentries; i++) {
        const uint8_t *e = buf + (size_t)i * h->entry_size;
        if (!memcmp(e, unused, 16))
            continue;
        uint64_t first = le64(e + 32), last = le64(e + 40);
        if (first > last) {
            err_fail(err, errlen, "GPT partition %u ends (sector %llu) before it starts (sector %llu)", i + 1,
                 (unsigned long long)last, (unsigned long long)first);
            goto out;
        }
        if (first < h->first || last > h->last) {
            err_fail(err, errlen, "GPT partition %u (sectors %llu-%llu) runs outside the disk's usable sectors "
                 "(%llu-%llu)", i + 1, (unsigned long long)first, (unsigned long long)last,
                 (unsigned long long)h->first, (unsigned long long)h->last);
            goto out;
        }
        if (add_part(t, i + 1, first, last - first + 1, d->size / sector, "GPT", err, errlen) < 0)
            goto out;
        memcpy(t->parts[t->n - 1].type_guid, e, 16);
        memcpy(t->parts[t->n - 1].guid, e + 16, 16);
    }
    r = check_overlaps(t, "GPT", err, errlen);
out:
    free(buf);
    return r;
}

/* One header and its entries; -1 with the first problem. */
static int gpt_try(const struct bl_disk *d, unsigned sector, uint64_t lba, struct pt_table *t, char *err,
                   size_t errlen)
{
    struct gpt_hdr h;
    t->scheme = PT_GPT;
    t->sector = sector;
    if (gpt_header(d, sector, lba, &h, err, errlen) < 0)
        return -1;
    return gpt_entries(d, sector, &h, t, err, errlen);
}

/* The primary header at sector 1, else the backup at the last sector. */
static int gpt_parse(const struct bl_disk *d, unsigned sector, struct pt_table *t, char *err, size_t errlen)
{
    char why[160];
    if (gpt_try(d, sector, 1, t, why, sizeof(why)) == 0)
        return 0;
    char why_backup[160];
    uint64_t last = d->size / sector - 1;
    if (gpt_try(d, sector, last, t, why_backup, sizeof(why_backup)) == 0) {
        snprintf(t->note, sizeof(t->note), "primary GPT unusable (%.200s); using the backup at sector %llu", why,
                 (unsigned long long)last);
        return 0;
    }
    t->n = 0;
    return err_fail(err, errlen, "%s; the backup GPT is unusable too (%s)", why, why_backup);
}

int pt_read(const struct bl_disk *d, struct pt_table *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->sector = MBR_SIZE;
    if (d->size < 2 * 4096)
        return d->size < 1024 ? err_fail(err, errlen, "the disk is %llu bytes: too small to hold a file system",
                                     (unsigned long long)d->size) : 0;
    uint8_t sec[MBR_SIZE], lba1[8];
    if (disk_read(d, 0, sec, sizeof(sec), err, errlen) < 0)
        return -1;
    /* GPT first: hybrid MBRs carry partitions of their own besides 0xEE. */
    for (unsigned s = 512; s <= 4096; s *= 8) {
        if (disk_read(d, s, lba1, sizeof(lba1), err, errlen) < 0)
            return -1;
        if (!memcmp(lba1, GPT_SIG, 8))
            return gpt_parse(d, s, t, err, errlen);
    }
    if (sec[MBR_SIG_OFF] != 0x55 || sec[MBR_SIG_OFF + 1] != 0xAA || !mbr_plausible(sec))
        return 0;
    for (unsigned i = 0; i < 4; i++) {
        struct mbr_entry e;
        mbr_entry(sec, i, &e);
        if (e.type == MBR_TYPE_GPT)   /* a protective MBR whose primary header is gone */
            return gpt_parse(d, MBR_SIZE, t, err, errlen);
    }
    return mbr_parse(d, sec, t, err, errlen);
}
