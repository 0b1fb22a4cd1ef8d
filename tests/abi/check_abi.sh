#!/bin/sh
# check_abi.sh -- the shared library's promises, checked on the built files:
# exports, SONAME, header as C99 and C++, install + pkg-config from outside.
# Writes TAP so each promise shows up by name.
# usage: check_abi.sh LIBRARY SOURCE_ROOT BUILD_ROOT VERSION
# (VERSION: meson's project version, which every version number must equal)
set -u
lib=$1 src=$2 build=$3 version=$4
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/# /'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. Only arnet_* symbols are exported (the version node arnet_0 included).
others=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | grep -v '^arnet_' || true)
if [ -z "$others" ]; then ok "only arnet_* symbols exported"; else notok "only arnet_* symbols exported" "$others"; fi

# 2. SONAME carries the ABI major.
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
if [ "$soname" = "libarnet.so.0" ]; then ok "SONAME is libarnet.so.0"; else notok "SONAME is libarnet.so.0" "got '$soname'"; fi

# 3. Every function the header declares is exported, and nothing else is.
grep -o 'ARNET_API[^(]*arnet_[a-z0-9_]*[ ]*(' "$src/include/arnet/arnet.h" |
    sed 's/.*\(arnet_[a-z0-9_]*\)[ ]*(/\1/' | sort -u > "$tmp/declared"
nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u > "$tmp/exported"
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
if [ -z "$missing" ]; then ok "every declared function is implemented and exported"; else notok "every declared function is implemented and exported" "missing: $missing"; fi
if [ -z "$extra" ]; then ok "no exported function is missing from the header"; else notok "no exported function is missing from the header" "extra: $extra"; fi

# 3a. Every function returning a status is ARNET_NODISCARD: the int-returning
# functions without it are exactly those that return a number, not a status.
loose=$(tr '\n' ' ' < "$src/include/arnet/arnet.h" | grep -o 'ARNET_API[^;(]*arnet_[a-z0-9_]*[ ]*(' |
    grep -v NODISCARD | grep 'ARNET_API int ' | sed 's/.*\(arnet_[a-z0-9_]*\)[ ]*(/\1/' |
    grep -vx 'arnet_abi_version\|arnet_checkpoint_format_version\|arnet_extractor_stream\|arnet_last_errno' || true)
if [ -z "$loose" ]; then ok "every function returning a status is ARNET_NODISCARD"; else notok "every function returning a status is ARNET_NODISCARD" "missing: $loose"; fi

# 3b. ABI 0 only grows: every function of the recorded list (symbols-0.txt,
# the functions of the first release) is still exported, in version node arnet_0.
gone=$(comm -23 "$src/tests/abi/symbols-0.txt" "$tmp/exported")
if [ -z "$gone" ]; then ok "every function of ABI 0 is still exported"; else notok "every function of ABI 0 is still exported" "removed: $gone (removing a function needs a new SONAME)"; fi
# Functions of the first release stay in node arnet_0; later ones are in a
# later node (arnet_0.2, ...), never slipped into arnet_0.
nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' > "$tmp/versioned"
wrong=$(while read -r sym; do
    name=${sym%%@*} node=${sym##*@}
    if grep -qx "$name" "$src/tests/abi/symbols-0.txt"; then
        [ "$node" = "arnet_0" ] || echo "$sym (first release: must be in arnet_0)"
    else
        case $node in arnet_0.[0-9]*) ;; *) echo "$sym (added later: must be in a node after arnet_0)" ;; esac
    fi
done < "$tmp/versioned")
if [ -z "$wrong" ]; then ok "every function carries its version node"; else notok "every function carries its version node" "$wrong"; fi

# 3c. Struct layouts only grow: every struct recorded in structs-0.txt still
# starts with the recorded fields at the recorded offsets and sizes, is no
# smaller (frozen ones: the same size, no new field), and every public struct
# is recorded (tests/abi/struct_layout.sh says how to record one).
if sh "$src/tests/abi/struct_layout.sh" "$src" -I"$build/include" > "$tmp/layout" 2> "$tmp/layout.err"; then
    rec_arch=$(sed -n 's/^# Generated .* on \(.*\); .*/\1/p' "$src/tests/abi/structs-0.txt")
    cur_arch=$(sed -n 's/^# Generated .* on \(.*\); .*/\1/p' "$tmp/layout")
    if [ "$rec_arch" != "$cur_arch" ]; then
        n=$((n + 1)); echo "ok $n - struct layouts only grow # SKIP recorded on $rec_arch, this is $cur_arch"
    else
        bad=$(awk '
            /^#/ { next }
            FNR == NR {
                if ($2 == "sizeof") { rsize[$1] = $3; rfrozen[$1] = ($4 == "frozen"); rorder[++nr] = $1 }
                else { split($1, p, "."); rf[p[1], ++rn[p[1]]] = $0 }
                next
            }
            $2 == "sizeof" { csize[$1] = $3; corder[++nc] = $1; next }
            { split($1, p, "."); cf[p[1], ++cn[p[1]]] = $0 }
            END {
                for (i = 1; i <= nr; i++) {
                    s = rorder[i]
                    if (!(s in csize)) { print s ": removed"; continue }
                    for (j = 1; j <= rn[s]; j++)
                        if (cf[s, j] != rf[s, j])
                            print s ": field " j " was \"" rf[s, j] "\", now \"" cf[s, j] "\""
                    if (csize[s] + 0 < rsize[s] + 0) print s ": shrank from " rsize[s] " to " csize[s]
                    if (rfrozen[s] && (csize[s] != rsize[s] || cn[s] != rn[s]))
                        print s ": frozen (an array element) but its size or fields changed"
                }
                for (i = 1; i <= nc; i++)
                    if (!(corder[i] in rsize))
                        print corder[i] ": not recorded in tests/abi/structs-0.txt (see struct_layout.sh)"
            }' "$src/tests/abi/structs-0.txt" "$tmp/layout")
        if [ -z "$bad" ]; then ok "struct layouts only grow (structs-0.txt)"; else notok "struct layouts only grow (structs-0.txt)" "$bad"; fi
    fi
else
    notok "struct layouts only grow (structs-0.txt)" "$(cat "$tmp/layout.err")"
fi

# 4. The header compiles alone as C99 and as C++, pedantically.
printf '#include <arnet/arnet.h>\nint main(void) { return arnet_abi_version() == ARNET_ABI_VERSION ? 0 : 1; }\n' > "$tmp/h.c"
if out=$(cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$src/include" -I"$build/include" "$tmp/h.c" 2>&1); then ok "header compiles as C99"; else notok "header compiles as C99" "$out"; fi
cp "$tmp/h.c" "$tmp/h.cpp"
if command -v c++ >/dev/null 2>&1; then
    if out=$(c++ -std=c++11 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$src/include" -I"$build/include" "$tmp/h.cpp" 2>&1); then ok "header compiles as C++11"; else notok "header compiles as C++11" "$out"; fi
else
    n=$((n + 1)); echo "ok $n - header compiles as C++11 # SKIP no C++ compiler"
fi

# 5. meson install, then a program outside the tree builds with pkg-config.
dest="$tmp/dest"
if out=$(meson install -C "$build" --no-rebuild --destdir "$dest" 2>&1); then
    ok "meson install"
    pc=$(find "$dest" -name arnet.pc | head -n 1)
    hdr=$(find "$dest" -path '*include/arnet/arnet_version.h' | head -n 1)
    [ -n "$hdr" ] && hdr=$(find "$dest" -path '*include/arnet/arnet.h' | head -n 1)
    exe=$(find "$dest" -path '*bin/arnet' | head -n 1)
    [ -n "$hdr" ] && [ -n "$exe" ] && [ -n "$pc" ] && ok "installs arnet.h and arnet_version.h, arnet program and arnet.pc" || notok "installs arnet.h and arnet_version.h, arnet program and arnet.pc" "pc=$pc hdr=$hdr exe=$exe"
    cat > "$tmp/x.c" <<'EOC'
#include <arnet/arnet.h>
#include <stdio.h>
int main(void)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = 8;
    arnet_model *m;
    if (arnet_model_create(&cfg, &m) != ARNET_OK) return 1;
    float x[16] = {0}, s[2];
    int rc = arnet_model_score(m, x, 2, s);
    arnet_model_free(m);
    printf("%s %s %d\n", ARNET_VERSION, arnet_version(), rc);
    return rc;
}
EOC
    if [ -n "$pc" ] && flags=$(PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs arnet) &&
        out=$(cc "$tmp/x.c" $flags -o "$tmp/x" 2>&1) &&
        libdir=$(dirname "$(find "$dest" -name 'libarnet.so.0' | head -n 1)") &&
        out=$(LD_LIBRARY_PATH="$libdir" "$tmp/x" 2>&1); then
        ok "cc x.c \$(pkg-config --cflags --libs arnet) builds and runs: $out"
        # One version everywhere: meson's, the installed header's macro, the
        # library's arnet_version() and pkg-config's.
        pcv=$(PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --modversion arnet)
        if [ "$out" = "$version $version 0" ] && [ "$pcv" = "$version" ]; then
            ok "header, library and pkg-config all say meson's version $version"
        else
            notok "header, library and pkg-config all say meson's version $version" "header and library: $out; pkg-config: $pcv"
        fi
    else
        notok "cc x.c \$(pkg-config --cflags --libs arnet) builds and runs" "$out"
    fi
else
    notok "meson install" "$out"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
