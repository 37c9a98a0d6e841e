#!/bin/sh
# Run by `meson install`: creates the 'vireo' system user that VM processes
# run as (dist/sysusers.d/vireo.conf says the same for packages, which
# systemd-sysusers applies).  Nothing when staging into DESTDIR or when the
# user exists; a note when not root.
set -eu
[ -n "${DESTDIR:-}" ] && exit 0
getent passwd vireo >/dev/null && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install: no user 'vireo'; as root: useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vireo" >&2
    exit 0
fi
if command -v systemd-sysusers >/dev/null 2>&1 && [ -e "${MESON_SOURCE_ROOT:-.}/dist/sysusers.d/vireo.conf" ]; then
    systemd-sysusers "${MESON_SOURCE_ROOT:-.}/dist/sysusers.d/vireo.conf"
else
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vireo
fi
echo "install: created the system user 'vireo' (VM processes run as it)"
