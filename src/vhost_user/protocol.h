/* vhost-user wire format (QEMU docs/interop/vhost-user.rst): the messages
 * a front-end (QEMU, or bench/'s load generator) and a back-end (vireo
 * disk serve) exchange over a UNIX socket, with file descriptors passed as
 * SCM_RIGHTS. */
#ifndef VIREO_VHOST_USER_PROTOCOL_H
#define VIREO_VHOST_USER_PROTOCOL_H

#include <stdint.h>

enum vhost_user_request {
    VHOST_USER_GET_FEATURES = 1,
    VHOST_USER_SET_FEATURES = 2,
    VHOST_USER_SET_OWNER = 3,
    VHOST_USER_RESET_OWNER = 4,
    VHOST_USER_SET_MEM_TABLE = 5,
    VHOST_USER_SET_LOG_BASE = 6,
    VHOST_USER_SET_LOG_FD = 7,
    VHOST_USER_SET_VRING_NUM = 8,
    VHOST_USER_SET_VRING_ADDR = 9,
    VHOST_USER_SET_VRING_BASE = 10,
    VHOST_USER_GET_VRING_BASE = 11,
    VHOST_USER_SET_VRING_KICK = 12,
    VHOST_USER_SET_VRING_CALL = 13,
    VHOST_USER_SET_VRING_ERR = 14,
    VHOST_USER_GET_PROTOCOL_FEATURES = 15,
    VHOST_USER_SET_PROTOCOL_FEATURES = 16,
    VHOST_USER_GET_QUEUE_NUM = 17,
    VHOST_USER_SET_VRING_ENABLE = 18,
    VHOST_USER_GET_CONFIG = 24,
    VHOST_USER_SET_CONFIG = 25,
    VHOST_USER_RESET_DEVICE = 34,
};

#define VHOST_USER_VERSION          0x1
#define VHOST_USER_VERSION_MASK     0x3
#define VHOST_USER_REPLY            0x4
#define VHOST_USER_NEED_REPLY       0x8

#define VHOST_USER_F_PROTOCOL_FEATURES 30

#define VHOST_USER_PROTOCOL_F_MQ           0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK    3
#define VHOST_USER_PROTOCOL_F_CONFIG       9
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13

#define VHOST_USER_MAX_REGIONS      8
#define VHOST_USER_MAX_FDS          8
#define VHOST_USER_VRING_IDX_MASK   0xFF
#define VHOST_USER_VRING_NOFD       0x100
#define VHOST_USER_CONFIG_MAX       256

struct vhost_user_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;             /* payload bytes after this header */
};

struct vhost_user_state {
    uint32_t index;
    uint32_t num;
};

struct vhost_user_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc;             /* front-end virtual addresses */
    uint64_t used;
    uint64_t avail;
    uint64_t log;
};

struct vhost_user_region {
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t mmap_offset;
};

struct vhost_user_mem {
    uint32_t nregions;
    uint32_t padding;
    struct vhost_user_region regions[VHOST_USER_MAX_REGIONS];
};

struct vhost_user_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t payload[VHOST_USER_CONFIG_MAX];
};

union vhost_user_payload {
    uint64_t u64;
    struct vhost_user_state state;
    struct vhost_user_addr addr;
    struct vhost_user_mem mem;
    struct vhost_user_config config;
};

/* In memory the payload is aligned; on the wire it follows the 12-byte
 * header directly (msg.c sends and receives the two parts). */
struct vhost_user_msg {
    struct vhost_user_hdr hdr;
    union vhost_user_payload p;
};

#endif
