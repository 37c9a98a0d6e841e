# Sourced by the bench scripts that take BUILD_DIR [SECONDS] [ROUNDS].
# bench_args DEFAULT_SECONDS DEFAULT_ROUNDS "$@": sets build, secs and
# rounds, or exits 2 with the usage.
bench_args() {
    local dsecs=$1 drounds=$2 name
    name=$(basename "$0" .sh)
    shift 2
    [ $# -ge 1 ] && [ $# -le 3 ] || { echo "usage: $0 BUILD_DIR [SECONDS] [ROUNDS]" >&2; exit 2; }
    build=$(cd "$1" && pwd)
    secs=${2:-$dsecs}
    rounds=${3:-$drounds}
    [[ $secs =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] ||
        { echo "$name: SECONDS and ROUNDS must be positive integers" >&2; exit 2; }
}
