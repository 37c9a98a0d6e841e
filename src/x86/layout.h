/* Guest physical memory map of a Vireo x86-64 VM.  One place for every fixed
 * address so the e820 map, the ACPI tables and the device models agree. */
#ifndef VIREO_X86_LAYOUT_H
#define VIREO_X86_LAYOUT_H

#include <stdint.h>

#define MiB (1024ULL * 1024ULL)
#define GiB (1024ULL * MiB)

/* Real-mode era low memory. */
#define LAYOUT_GDT_ADDR        0x0500ULL
#define LAYOUT_PVH_START_INFO  0x6000ULL   /* PVH: start_info, modlist, memmap */
#define LAYOUT_BOOT_PARAMS     0x7000ULL   /* the "zero page" */
#define LAYOUT_PML4            0x9000ULL
#define LAYOUT_PDPT            0xA000ULL
#define LAYOUT_PD              0xB000ULL   /* 4 pages: identity map of 4 GiB */
#define LAYOUT_CMDLINE         0x20000ULL
#define LAYOUT_CMDLINE_MAX     0x10000ULL
#define LAYOUT_EBDA_START      0x9FC00ULL
#define LAYOUT_LOWMEM_END      0xA0000ULL
/* ACPI tables live in the BIOS area so that the legacy RSDP scan finds them
 * too, not only boot_params.acpi_rsdp_addr. */
#define LAYOUT_ACPI_START      0xE0000ULL
#define LAYOUT_ACPI_SIZE       0x20000ULL
#define LAYOUT_HIGHMEM_START   0x100000ULL /* 1 MiB: protected-mode kernel */

/* The 32-bit PCI hole: RAM stops at 3 GiB, devices live above. */
#define LAYOUT_PCI_HOLE_START  0xC0000000ULL
#define LAYOUT_PCI_MMIO32_BASE 0xC0000000ULL
#define LAYOUT_PCI_MMIO32_SIZE 0x20000000ULL   /* 512 MiB for BARs */
#define LAYOUT_ECAM_BASE       0xE0000000ULL
#define LAYOUT_ECAM_BUSES      1               /* bus 0 only */
#define LAYOUT_ECAM_SIZE       (LAYOUT_ECAM_BUSES * MiB)
#define LAYOUT_IOAPIC_ADDR     0xFEC00000ULL
#define LAYOUT_LAPIC_ADDR      0xFEE00000ULL
#define LAYOUT_KVM_TSS_ADDR    0xFFFBD000ULL   /* 3 pages, needed by VMX */
#define LAYOUT_KVM_IDMAP_ADDR  0xFFFBC000ULL   /* 1 page, needed by VMX */
#define LAYOUT_HIGH_RAM_START  (4 * GiB)
/* 64-bit BAR window: right above the end of RAM (see
 * layout_pci_mmio64_base()), kept small so it stays below the CPU's
 * physical address limit even on hosts with 39 address bits. */
#define LAYOUT_PCI_MMIO64_ALIGN GiB
#define LAYOUT_PCI_MMIO64_SIZE (32 * GiB)

/* Port I/O. */
#define PORT_COM1              0x3F8
#define IRQ_COM1               4
#define PORT_I8042_DATA        0x60
#define PORT_I8042_CMD         0x64
#define PORT_RTC_INDEX         0x70
#define PORT_RTC_DATA          0x71
#define PORT_ACPI_PM_BASE      0x600
#define PORT_ACPI_PM1A_EVT     0x600  /* 4 bytes: status (2) + enable (2) */
#define PORT_ACPI_PM1A_CNT     0x604  /* 2 bytes */
#define PORT_PCI_CONFIG_ADDR   0xCF8
#define PORT_RESET_CONTROL     0xCF9  /* byte access; also the FADT reset register */
#define PORT_PCI_CONFIG_DATA   0xCFC
#define RESET_CONTROL_VALUE    0x06   /* what the FADT tells the guest to write */
#define IRQ_ACPI_SCI           9
#define ACPI_S5_SLP_TYP        5      /* value of \_S5 written to PM1a_CNT.SLP_TYP */

#define MAX_VCPUS              64
#define MAX_RAM                (1ULL << 40)

#endif
