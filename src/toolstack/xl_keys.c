/* The xl.cfg(5) keys (Xen 4.19 manual) that vireo refuses by name.  Taken
 * from the manual's item list; device_model_* and spice* are matched as
 * prefixes since xl keeps adding to those families. */
#include "toolstack/xl_keys.h"

#include <stdint.h>
#include <string.h>

#include "util/suggest.h"

static const char *const xl_only[] = {
    "builder", "pool", "maxvcpus", "cpus_soft", "cpu_weight", "cap", "vnuma",
    "on_watchdog", "on_soft_reset", "firmware", "pvshim", "pvshim_path", "pvshim_cmdline",
    "pvshim_extra", "uuid", "seclabel", "init_seclabel", "max_grant_frames", "max_maptrack_frames",
    "max_grant_version", "nomigrate", "driver_domain", "device_tree", "passthrough",
    "xend_suspend_evtchn_compat", "vmtrace_buf_kb", "vpmu", "vtpm", "p9", "pvcalls", "vfb",
    "channel", "rdm", "usbctrl", "usbdev", "pci", "pci_permissive", "pci_msitranslate", "pci_seize",
    "pci_power_mgmt", "gfx_passthru", "rdm_mem_boundary", "dtdev", "ioports", "iomem", "irqs",
    "max_event_channels", "vdispl", "dm_restrict", "device_model_user", "vsnd", "vkb", "virtio",
    "tee", "bootloader_restrict", "bootloader_user", "e820_host",
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

bool xl_key_number(const char *key)
{
    static const char *const numbers[] = {"memory", "maxmem", "vcpus", "maxvcpus", "seccomp", "hugepages"};
    for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
        if (!strcmp(key, numbers[i]))
            return true;
    }
    return false;
}

bool xl_key_unsupported(const char *key)
{
    for (size_t i = 0; i < sizeof(xl_only) / sizeof(xl_only[0]); i++) {
        if (!strcmp(key, xl_only[i]))
            return true;
    }
    return !strncmp(key, "device_model_", 13) || !strncmp(key, "spice", 5);
}

const char *xl_suggest(const char *word, const char *const *cands, size_t n, bool also_xl)
{
    size_t best_d = SIZE_MAX;
    const char *best = suggest_word(word, cands, n, &best_d);
    const char *xl = also_xl ? suggest_word(word, xl_only, sizeof(xl_only) / sizeof(xl_only[0]), &best_d) : NULL;
    return xl ? xl : best;
}
