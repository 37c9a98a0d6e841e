/* qcow2 overlays: a new, empty image that reads through to its backing
 * file until the guest writes.  Creating one takes milliseconds, but it
 * makes its backing file a base that must never be written again: the
 * overlay's clusters say "not here, ask the base" and a write to the base
 * changes what the overlay reads.
 *
 * img_overlay_switch keeps a VM's disk path while freezing its content:
 * the image at PATH becomes PATH's base (renamed beside it, made
 * read-only) and a new overlay takes its place at PATH, so the VM that
 * used PATH goes on writing an overlay of its own, and any number of
 * clones can be overlays on the same base.  This is libvirt's external
 * snapshot (blockdev-snapshot), done while the VM is off. */
#ifndef VIREO_IMAGE_IMG_OVERLAY_H
#define VIREO_IMAGE_IMG_OVERLAY_H

#include <stddef.h>

#include "block/image_format.h"

/* The backing file name an overlay at `overlay` records for `base`: its
 * file name when both are in one folder (the pair can then move
 * together), else base's absolute path. */
int img_backing_name(const char *overlay, const char *base, char *out, size_t len, char *err, size_t errlen);

/* A new qcow2 image at dst (never replacing anything) on base, whose
 * format is fmt: the chain below is opened first, so a missing or broken
 * backing file is refused with the chain named; base is opened under a
 * shared lock, so an image a VM writes is refused too.  0 or -1 (err). */
int img_overlay_create(const char *base, enum img_format fmt, const char *dst, char *err, size_t errlen);

/* Moves the qcow2 image at path to a new base beside it
 * (STEM.base-YYYYMMDD-HHMMSS[-N].qcow2, returned in base) and puts an
 * overlay on that base at path, with path's mode and owner.  path must not
 * be in use (it is held under a write lock throughout, so no VM can open
 * it meanwhile).  Crash-safe: the base is a hard link made before the new
 * overlay is renamed over path; a crash in between leaves path as it was
 * (and an extra name for it).  0 or -1 (err; nothing changed). */
int img_overlay_switch(const char *path, char *base, size_t baselen, char *err, size_t errlen);

#endif
