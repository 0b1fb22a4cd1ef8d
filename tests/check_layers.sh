#!/bin/sh
# check_layers.sh -- no arrow runs back up: the library's parts stand on
# floors (README "Layout"), core at the bottom, store and data on it,
# detector and video on top, and a part may use its own code and that of
# the floors below it, never a part beside it or above it.  Checked on what
# the compiler really made and read: every undefined arnet_/arnet__ symbol of
# each object of the static library is looked up in the object that defines
# it (nm), and every "header.h" a source file includes in the folder where
# that header lives.  Writes TAP, one line per part.
# usage: check_layers.sh SOURCE_ROOT STATIC_LIBRARY...
set -u
src=$1
shift
n=0 failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

floor() {
    case $1 in
    core) echo 0 ;;
    store | data) echo 1 ;;
    detector | video) echo 2 ;;
    *) echo 9 ;;
    esac
}

# "PART SYMBOL" for every definition and every use, from the objects' names
# (meson names them PART_FILE.c.o).
for lib in "$@"; do
    nm -A "$lib" 2>/dev/null
done | awk '
    {
        k = split($1, f, ":"); obj = ""
        for (j = 1; j <= k; j++) if (f[j] ~ /\.o$/) obj = f[j]
        sub(/.*\//, "", obj)
        part = obj; sub(/_.*/, "", part)
        sym = $NF; kind = $(NF - 1)
        if (sym !~ /^arnet_/) next
        if (kind == "U") print part, sym, obj > "'"$tmp"'/uses"
        else if (kind ~ /[TDBR]/) print part, sym > "'"$tmp"'/defs"
    }'
if [ ! -s "$tmp/defs" ]; then
    echo "1..1"
    echo "not ok 1 - the static library's symbols could be read (nm: $*)"
    exit 1
fi

# Includes: each part's sources against the folder of each header they name.
for dir in "$src"/libarnet/*/; do
    part=$(basename "$dir")
    for f in "$dir"*.c "$dir"*.h; do
        [ -f "$f" ] || continue
        sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | while read -r h; do
            for other in "$src"/libarnet/*/; do
                [ -f "$other$h" ] && echo "$part $(basename "$other") $(basename "$f") $h"
            done
        done
    done
done > "$tmp/includes"

for part in core store data detector video; do
    mine=$(floor $part)
    bad=$(awk -v part="$part" '
        FNR == NR { def[$2] = $1; next }
        $1 == part && ($2 in def) { print def[$2], $2, $3 }' "$tmp/defs" "$tmp/uses" |
        while read -r owner sym obj; do
            [ "$owner" = "$part" ] && continue
            [ "$(floor "$owner")" -lt "$mine" ] && continue
            echo "$obj calls $sym of $owner"
        done)
    badinc=$(awk -v part="$part" '$1 == part' "$tmp/includes" |
        while read -r p owner file h; do
            [ "$owner" = "$p" ] && continue
            [ "$(floor "$owner")" -lt "$mine" ] && continue
            echo "$file includes $h of $owner"
        done)
    n=$((n + 1))
    if [ -z "$bad$badinc" ]; then
        echo "ok $n - $part (floor $mine) uses only itself and the floors below"
    else
        failed=$((failed + 1))
        echo "not ok $n - $part (floor $mine) uses only itself and the floors below"
        printf '%s\n%s\n' "$bad" "$badinc" | sed '/^$/d; s/^/# /'
    fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
