#!/bin/sh
# check_install.sh -- the installed files work as a user meets them: arnet
# runs from wherever the tree is installed (no LD_LIBRARY_PATH, even after
# moving it), the manual pages are there and render, and the README's C
# example builds with pkg-config and scores a model's features.  Writes TAP.
# usage: check_install.sh SOURCE_ROOT BUILD_ROOT
set -u
src=$1 build=$2
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | tail -20 | sed 's/^/# /'; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The meson test harness points LD_LIBRARY_PATH at the build tree: the
# installed program must find its library without it.
unset LD_LIBRARY_PATH

dest=$tmp/dest
if ! out=$(meson install -C "$build" --no-rebuild --destdir "$dest" 2>&1); then
    notok "meson install --destdir" "$out"
    echo "1..$n"; exit 1
fi
ok "meson install --destdir"
exe=$(find "$dest" -path '*/bin/arnet' | head -n 1)
lib=$(find "$dest" -name 'libarnet.so.0' | head -n 1)

# --- the program runs from its install tree, wherever that is -----------------
runpath=$(readelf -d "$exe" 2>/dev/null | sed -n 's/.*R[UN]*PATH.*\[\(.*\)\]/\1/p')
case $runpath in
'$ORIGIN/'*) ok "arnet's run path is relative to the program: $runpath" ;;
*) notok "arnet's run path is relative to the program" "run path: '$runpath'" ;;
esac
check_runs() { # check_runs NAME EXE LIBDIR
    if out=$("$2" --version 2>&1) && printf '%s' "$out" | grep -q "^arnet "; then
        found=$(ldd "$2" | sed -n 's/.*libarnet.so.0 => \([^ ]*\).*/\1/p')
        found=$(readlink -f "$found")
        case $found in
        "$3"/*) ok "$1: $out" ;;
        *) notok "$1" "it loaded libarnet from '$found', not from $3" ;;
        esac
    else
        notok "$1" "$out"
    fi
}
check_runs "installed arnet --version without LD_LIBRARY_PATH" "$exe" "$(dirname "$lib")"
# The whole prefix moved elsewhere (a relocated /opt tree): still runs.
prefix=${exe%/bin/arnet}
mv "$prefix" "$tmp/moved"
check_runs "arnet still runs after moving its install tree" "$tmp/moved/bin/arnet" \
    "$(dirname "$tmp/moved${lib#"$prefix"}")"
mv "$tmp/moved" "$prefix"

# --- manual pages ---------------------------------------------------------------
mandir=$(dirname "$(find "$dest" -path '*/man1/arnet.1' | head -n 1)")
missing=""
for page in arnet arnet-demo arnet-train arnet-eval arnet-score arnet-calibrate arnet-info \
        arnet-synth arnet-import; do
    [ -s "$mandir/$page.1" ] || missing="$missing $page.1"
done
if [ -z "$missing" ] && [ "$mandir" != "." ]; then ok "man1 holds arnet.1 and a page per command"; else notok "man1 holds arnet.1 and a page per command" "missing:$missing (in $mandir)"; fi
if command -v man >/dev/null 2>&1; then
    if out=$(MANPAGER=cat MANWIDTH=80 man -l "$mandir/arnet.1" 2>&1) &&
        printf '%s\n' "$out" | grep -q "^NAME" &&
        printf '%s\n' "$out" | grep -q -- "--batch-anomalous" &&
        printf '%s\n' "$out" | grep -qi "exit status"; then
        ok "man -l arnet.1 renders every command's options and the exit codes"
    else
        notok "man -l arnet.1 renders every command's options and the exit codes" "$out"
    fi
    if out=$(MANPAGER=cat MANWIDTH=80 man -l "$mandir/arnet-train.1" 2>&1) &&
        printf '%s\n' "$out" | grep -q "arnet-train - train a model" &&
        printf '%s\n' "$out" | grep -q -- "--resume"; then
        ok "man -l arnet-train.1 renders"
    else
        notok "man -l arnet-train.1 renders" "$out"
    fi
else
    skip "man -l renders the pages" "man is not installed"
fi

# --- the README's C example, built against the installed files -----------------
awk '/^```c$/ { on = 1; next } /^```$/ { on = 0 } on' "$src/README.md" > "$tmp/app.c"
pc=$(find "$dest" -name arnet.pc | head -n 1)
cc=${CC:-cc}
if [ ! -s "$tmp/app.c" ]; then
    notok "README has a C example" "no \`\`\`c block in README.md"
elif flags=$(PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs arnet) &&
    out=$($cc -std=c99 -Wall -Wextra -Werror "$tmp/app.c" $flags -o "$tmp/app" 2>&1); then
    ok "README's C example builds with \$(pkg-config --cflags --libs arnet), no warning"
    # A model and a video from the installed program, then the example.
    export LD_LIBRARY_PATH
    LD_LIBRARY_PATH=$(dirname "$lib")
    if "$exe" synth --out "$tmp/data" --scale 0.05 --feature-dim 16 > /dev/null 2>&1 &&
        "$exe" train --train "$tmp/data/train.txt" --out "$tmp/m.arnet" --iterations 5 \
            --batch-normal 2 --batch-anomalous 2 --quiet > /dev/null 2>&1; then
        f=$(ls "$tmp/data/features/"*.npy | head -n 1)
        clips=$("$exe" score --model "$tmp/m.arnet" "$f" | grep -vc '^#')
        if out=$("$tmp/app" "$tmp/m.arnet" "$f" 2>&1) &&
            [ "$(printf '%s\n' "$out" | awk 'NF == 2 && $2 >= 0 && $2 <= 1' | wc -l)" -eq "$clips" ] &&
            [ "$clips" -gt 0 ]; then
            ok "README's C example prints one score per clip ($clips clips)"
        else
            notok "README's C example prints one score per clip" "$out"
        fi
        "$tmp/app" "$tmp/m.arnet" "$tmp/missing.npy" > /dev/null 2> "$tmp/err"
        if [ $? -eq 1 ] && grep -q "missing.npy" "$tmp/err"; then
            ok "README's C example reports a missing file"
        else
            notok "README's C example reports a missing file" "$(cat "$tmp/err")"
        fi
    else
        notok "installed arnet makes a data set and a model"
    fi
    unset LD_LIBRARY_PATH
else
    notok "README's C example builds with \$(pkg-config --cflags --libs arnet)" "${out:-pkg-config failed}"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
