#!/bin/sh
# check-layers.sh DIR: every project include in DIR (proxy/) names its
# header by folder ("conf/rules.h") and points at the file's own layer or
# one below it (docs/architecture.md). Exit 1 listing each offence.
# The layers, lowest first; a sub-folder belongs to its top folder's layer.
LAYERS="base conf diff obs data ctrl admin app tools"
dir=${1:-proxy}
rank() { # layer name -> its position; the top (main.c) ranks above all
    i=0
    for l in $LAYERS; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done
    echo 99
}
bad=0
for f in $(find "$dir" -name '*.[ch]' | sort); do
    rel=${f#"$dir"/}
    case $rel in */*) own=${rel%%/*} ;; *) own=top ;; esac
    own_rank=$(rank "$own")
    [ "$own" != top ] && [ "$own_rank" = 99 ] && { echo "$f: folder $own is not a layer"; bad=1; continue; }
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $inc in
        */*) ;;
        *) echo "$f: #include \"$inc\" names no layer folder"; bad=1; continue ;;
        esac
        [ -f "$dir/$inc" ] || { echo "$f: #include \"$inc\": no such header"; bad=1; continue; }
        to=${inc%%/*}
        if [ "$(rank "$to")" -gt "$own_rank" ]; then
            echo "$f ($own) includes $inc ($to): a layer above its own"
            bad=1
        fi
    done
done
[ $bad = 0 ] && echo "layers: every include points down ($LAYERS)"
exit $bad
