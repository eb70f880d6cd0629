import sys, collections, re
path = sys.argv[1]; focus = sys.argv[2] if len(sys.argv) > 2 else None
threads = collections.Counter(); selfc = collections.Counter(); incl = collections.Counter()
total = 0
for line in open(path):
    line = line.rstrip()
    if not line: continue
    stack, _, n = line.rpartition(" ")
    n = int(n)
    frames = stack.split(";")
    th = frames[0]
    th = re.sub(r"\(0x[0-9a-f]+\)", "", th).strip()
    if focus and focus not in th: continue
    total += n
    threads[th] += n
    fr = [re.sub(r" \(/.*?/(src/playlog|site-packages|lib/python3[.0-9]*)/", " (", f) for f in frames[1:]]
    if fr: selfc[fr[-1]] += n
    for f in set(fr): incl[f] += n
print("total", total)
for k, v in threads.most_common(15): print(f"{v:7d} {100*v/total:5.1f}%  {k}")
print("--- self")
for k, v in selfc.most_common(25): print(f"{v:7d} {100*v/total:5.1f}%  {k}")
print("--- inclusive")
for k, v in incl.most_common(45): print(f"{v:7d} {100*v/total:5.1f}%  {k}")
