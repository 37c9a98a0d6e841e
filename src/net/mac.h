/* Ethernet addresses of guest NICs: parsed from --net mac=, printed, or
 * derived from the VM so that each VM keeps its own address across runs. */
#ifndef VIREO_NET_MAC_H
#define VIREO_NET_MAC_H

#include <stddef.h>
#include <stdint.h>

/* "xx:xx:xx:xx:xx:xx", hex digits of either case.  Refuses multicast and
 * all-zero addresses, which no NIC may own.  -1 with a message in err. */
int mac_parse(const char *s, uint8_t mac[6], char *err, size_t errlen);

/* Lower-case "xx:xx:xx:xx:xx:xx" plus the NUL. */
void mac_format(const uint8_t mac[6], char out[18]);

/* A locally administered unicast address, the same for the same (seed,
 * index) on every host and every run; see mac.c for the scheme. */
void mac_derive(const char *seed, unsigned index, uint8_t mac[6]);

#endif
