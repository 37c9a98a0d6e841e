/* `vireo metrics`' text: every VM's counters and latency histograms in
 * the Prometheus text exposition format (version 0.0.4, what Prometheus
 * scrapes and node_exporter's textfile collector reads), named after the
 * libvirt exporters' metrics with a vireo_ prefix (README, "vireo
 * metrics", has the mapping).  Label values are the VM's name and its
 * devices' names and paths: untrusted, escaped (str_escape, then the
 * format's own \\ and \"), so any byte reaches the output only as
 * printable ASCII. */
#ifndef VIREO_CLI_METRICS_FMT_H
#define VIREO_CLI_METRICS_FMT_H

#include <stdio.h>

#include "toolstack/vm_stats.h"

/* Writes the exposition of n VMs to f; denied and failed: VMs that could
 * not be read (another user's, not answering). */
void metrics_write(FILE *f, const struct vmstat *vms, unsigned n, unsigned denied, unsigned failed);

#endif
