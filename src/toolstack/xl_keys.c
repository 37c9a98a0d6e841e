/* The xl.cfg(5) keys (Xen 4.19 manual) that vireo refuses by name.  Taken
 * from the manual's item list; device_model_* and spice* are matched as
 * prefixes since xl keeps adding to those families. */
#include "toolstack/xl_keys.h"

#include <string.h>

static const char *const xl_only[] = {
    "type", "builder", "pool", "maxvcpus", "cpus_soft", "cpu_weight", "cap", "maxmem", "vnuma",
    "on_watchdog", "on_soft_reset", "firmware", "pvshim", "pvshim_path", "pvshim_cmdline",
    "pvshim_extra", "uuid", "seclabel", "init_seclabel", "max_grant_frames", "max_maptrack_frames",
    "max_grant_version", "nomigrate", "driver_domain", "device_tree", "passthrough",
    "xend_suspend_evtchn_compat", "vmtrace_buf_kb", "vpmu", "vtpm", "p9", "pvcalls", "vfb",
    "channel", "rdm", "usbctrl", "usbdev", "pci", "pci_permissive", "pci_msitranslate", "pci_seize",
    "pci_power_mgmt", "gfx_passthru", "rdm_mem_boundary", "dtdev", "ioports", "iomem", "irqs",
    "max_event_channels", "vdispl", "dm_restrict", "device_model_user", "vsnd", "vkb", "virtio",
    "tee", "bootloader", "bootloader_args", "bootloader_restrict", "bootloader_user", "e820_host",
    "boot", "hdtype", "hap", "oos", "shadow_memory", "bios", "bios_path_override", "pae", "acpi",
    "acpi_s3", "acpi_s4", "acpi_laptop_slate", "apic", "nx", "hpet", "altp2m", "altp2mhvm",
    "nestedhvm", "cpuid", "acpi_firmware", "smbios_firmware", "smbios", "ms_vm_genid", "tsc_mode",
    "localtime", "rtc_timeoffset", "vpt_align", "timer_mode", "mmio_hole", "xen_platform_pci",
    "viridian", "hvm_pirq", "videoram", "stdvga", "vga", "vnc", "vnclisten", "vncdisplay",
    "vncunused", "vncpasswd", "keymap", "sdl", "display", "xauthority", "opengl", "nographic",
    "soundhw", "vkb_device", "usb", "usbversion", "usbdevice", "vendor_device",
    "device_model_version", "device_model_override", "device_model_stubdomain_override",
    "device_model_stubdomain_seclabel", "device_model_args", "device_model_args_pv",
    "device_model_args_hvm", "stubdomain_kernel", "stubdomain_cmdline", "stubdomain_ramdisk",
    "stubdomain_memory", "gic_version", "vuart", "sve", "mca_caps", "msr_relaxed",
    "trap_unmapped_accesses", "llc_colors", "spice", "spicehost", "spiceport", "spicetls_port",
    "spicedisable_ticketing", "spicepasswd", "spiceagent_mouse", "spicevdagent",
    "spice_clipboard_sharing", "spiceusbredirection", "spice_image_compression",
    "spice_streaming_video",
};

bool xl_key_unsupported(const char *key)
{
    for (size_t i = 0; i < sizeof(xl_only) / sizeof(xl_only[0]); i++) {
        if (!strcmp(key, xl_only[i]))
            return true;
    }
    return !strncmp(key, "device_model_", 13) || !strncmp(key, "spice", 5);
}

/* Optimal string alignment distance (Levenshtein plus adjacent swaps),
 * capped: anything over max comes back as max + 1. */
static size_t distance(const char *a, const char *b, size_t max)
{
    enum { N = 65 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= N || lb >= N)
        return max + 1;
    if ((la > lb ? la - lb : lb - la) > max)
        return max + 1;
    size_t d[N][N];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb] > max ? max + 1 : d[la][lb];
}

const char *xl_suggest(const char *word, const char *const *cands, size_t n, bool also_xl)
{
    size_t max = strlen(word) <= 4 ? 1 : 2;
    const char *best = NULL;
    size_t best_d = max + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, cands[i], max);
        if (d < best_d) {
            best = cands[i];
            best_d = d;
        }
    }
    for (size_t i = 0; also_xl && i < sizeof(xl_only) / sizeof(xl_only[0]); i++) {
        size_t d = distance(word, xl_only[i], max);
        if (d < best_d) {
            best = xl_only[i];
            best_d = d;
        }
    }
    return best;
}
