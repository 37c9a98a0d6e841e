/* Disk image formats.  A disk's format always comes from its
 * configuration (or, for a backing file, from the overlay's header); it is
 * never guessed from the disk's contents. */
#ifndef VIREO_BLOCK_IMAGE_FORMAT_H
#define VIREO_BLOCK_IMAGE_FORMAT_H

enum img_format {
    IMG_FORMAT_NONE,     /* no image (end of a backing chain) */
    IMG_FORMAT_RAW,
    IMG_FORMAT_QCOW2,
};

/* "raw" / "qcow2"; -1 for anything else. */
int img_format_parse(const char *s, enum img_format *out);
const char *img_format_name(enum img_format f);

#endif
