#!/usr/bin/env bash
# check-layers.sh [SRC_DIR [LAYERS_FILE]]: fails when a file of SRC_DIR
# (default: the repository's src/) includes, with #include "...", a file of
# a higher layer or of another folder of its own layer, or when a folder is
# in no layer.  The order is LAYERS_FILE (default SRC_DIR/layers.txt).  An
# include without a folder is the includer's own folder's.
set -euo pipefail
src=${1:-$(cd "$(dirname "$0")/../src" && pwd)}
layers=${2:-$src/layers.txt}
[ -d "$src" ] && [ -f "$layers" ] || { echo "usage: $0 [SRC_DIR [LAYERS_FILE]]" >&2; exit 2; }
layers=$(cd "$(dirname "$layers")" && pwd)/$(basename "$layers")
src=$(cd "$src" && pwd)
cd "$src"
# One line per include: FILE:LINE:#include "PATH"
find . -name '*.[ch]' -type f | sed 's|^\./||' | sort |
    xargs -r grep -Hn -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' -- /dev/null |
    awk -F: -v layers="$layers" -v src="$src" '
    BEGIN {
        while ((getline line < layers) > 0) {
            sub(/#.*/, "", line)
            n = split(line, names, /[[:space:]]+/)
            if (n == 0 || (n == 1 && names[1] == ""))
                continue
            rank++
            for (i = 1; i <= n; i++)
                if (names[i] != "")
                    layer[names[i]] = rank
        }
        if (!rank) {
            print layers ": no layers" > "/dev/stderr"
            broken = 1
            exit 2
        }
    }
    function part(path) { return index(path, "/") ? substr(path, 1, index(path, "/") - 1) : path }
    {
        file = $1; lineno = $2
        rest = substr($0, length($1) + length($2) + 3)
        match(rest, /"[^"]*"/)
        inc = substr(rest, RSTART + 1, RLENGTH - 2)
        from = part(file)
        to = index(inc, "/") ? part(inc) : from
        files[file] = 1
        checked++
        if (!(from in layer)) {
            if (!(from in unlisted))
                printf "%s/%s: %s is in no layer of %s\n", src, file, from, layers
            unlisted[from] = 1
            bad++
            next
        }
        if (to == from)
            next
        if (!(to in layer)) {
            printf "%s/%s:%s: includes \"%s\": %s is in no layer of %s\n", src, file, lineno, inc, to, layers
            bad++
        } else if (layer[to] < layer[from]) {
            printf "%s/%s:%s: includes \"%s\": %s (layer %d) is above %s (layer %d)\n", src, file, lineno, inc, to,
                   layer[to], from, layer[from]
            bad++
        } else if (layer[to] == layer[from]) {
            printf "%s/%s:%s: includes \"%s\": %s and %s share layer %d and stay independent\n", src, file, lineno,
                   inc, to, from, layer[to]
            bad++
        }
    }
    END {
        if (broken)
            exit 2
        nfiles = 0
        for (f in files)
            nfiles++
        printf "check-layers: %d includes in %d files, %d against the layers of %s\n", checked, nfiles, bad, layers
        exit bad ? 1 : 0
    }'
