#!/usr/bin/env bash
# mkman.sh VIREO OUT: vireo(1), generated from vireo's own `help` and each
# command's `--help`, so the manual says exactly what the tables say.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 VIREO OUT" >&2; exit 2; }
vireo=$1
out=$2
version=$("$vireo" --version | awk '{ print $2 }')
# troff: a leading '.' or "'" is a request, a backslash an escape.
esc() { sed -e 's/\\/\\e/g' -e "s/^\\./\\\\\\&./" -e "s/^'/\\\\\\&'/"; }
{
    echo ".TH VIREO 1 \"\" \"vireo $version\" \"User Commands\""
    echo ".SH NAME"
    echo "vireo \\- run and manage virtual machines on KVM"
    echo ".SH SYNOPSIS"
    echo ".B vireo"
    echo ".I COMMAND"
    echo "[\\fIARGS\\fR]"
    echo ".SH DESCRIPTION"
    echo "Vireo boots Linux guests on KVM (\\fBvireo run\\fR), serves disks over vhost-user, makes disk"
    echo "images, watches disk I/O, and manages VMs with xl-style configuration files and commands."
    echo "A usage error prints one line and exits 2; other errors exit 1."
    echo ".SH COMMANDS"
    echo ".nf"
    "$vireo" help | tail -n +2 | esc
    echo ".fi"
    for cmd in $("$vireo" help | awk '/^  [a-z]/ { print $1 }'); do
        case $cmd in help | version) continue ;; esac
        echo ".SS vireo $cmd"
        echo ".nf"
        "$vireo" "$cmd" --help | esc
        echo ".fi"
    done
    echo ".SH SEE ALSO"
    echo "xl.cfg(5), xl(1), qemu-img(1)"
} >"$out"
