#!/usr/bin/env python3
# gen_median_net.py -- the median networks of libarnet/video/flow_kernels.h:
# Batcher's odd-even merge sort on the next power of two of n wires (the
# missing wires +infinity, folded away), pruned to the operations the middle
# output needs.  usage: gen_median_net.py N [check]  (check: verify the
# network on random inputs against sorting).
import sys
def oddeven_merge_sort(n):
    pairs=[]
    def merge(lo, hi, r):
        step = r * 2
        if step < hi - lo:
            merge(lo, hi, step); merge(lo + r, hi, step)
            for i in range(lo + r, hi - r, step):
                pairs.append((i, i + r))
        else:
            pairs.append((lo, lo + r))
    def sort(lo, hi):
        if hi - lo >= 1:
            mid = lo + (hi - lo) // 2
            sort(lo, mid); sort(mid + 1, hi); merge(lo, hi, 1)
    sort(0, n - 1)
    return pairs
def gen(n):
    N=1
    while N<n: N*=2
    pairs=oddeven_merge_sort(N)
    # wire -> symbol: ('in',i) or ('inf',) ; build SSA ops
    wires=[('v',i) for i in range(n)]+[('inf',)]*(N-n)
    ops=[]  # (kind, out, a, b)
    cnt=[n]
    def new():
        cnt[0]+=1; return ('v',cnt[0]-1)
    for i,j in pairs:
        a,b=wires[i],wires[j]
        if b==('inf',): continue
        if a==('inf',):
            wires[i],wires[j]=b,a; continue
        lo,hi=new(),new()
        ops.append(('min',lo,a,b)); ops.append(('max',hi,a,b))
        wires[i],wires[j]=lo,hi
    target=wires[n//2]
    need={target}
    kept=[]
    for op in reversed(ops):
        if op[1] in need:
            kept.append(op); need.add(op[2]); need.add(op[3])
    kept.reverse()
    return kept,target
n=int(sys.argv[1])
kept,target=gen(n)
print("/* %d min/max operations, generated (Batcher's odd-even merge sort on %d wires, pruned to the median) */"%(len(kept),n))
for k,o,a,b in kept:
    print("    float t%d = %s(t%d, t%d);"%(o[1],'MIN' if k=='min' else 'MAX',a[1],b[1]))
print("    /* median: t%d */"%target[1])
if len(sys.argv) > 2:
    import random
    for trial in range(20000):
        vals=[random.choice([random.random(), random.randint(0,3)]) for _ in range(n)]
        t={i:vals[i] for i in range(n)}
        for k,o,a,b in kept:
            t[o[1]] = min(t[a[1]],t[b[1]]) if k=='min' else max(t[a[1]],t[b[1]])
        assert t[target[1]] == sorted(vals)[n//2], (vals)
    print("checked", file=sys.stderr)
