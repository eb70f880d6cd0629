"""Per-thread summary of py-spy raw (--threads) profiles."""
import re, sys, collections
def load(path):
    per = collections.Counter(); leaf = collections.defaultdict(collections.Counter)
    incl = collections.defaultdict(collections.Counter)
    for line in open(path):
        stack, _, n = line.rstrip().rpartition(" ")
        n = int(n); frames = stack.split(";")
        m = re.match(r"thread \((\w+)\):? ?(.*)", frames[0])
        name = m.group(2) or m.group(1)
        name = re.sub(r"-\d+$", "-N", name)
        if name.startswith("AnyIO worker"): name = "AnyIO worker thread"
        per[name] += n
        fr = [re.sub(r" \((.*?):\d+\)", r" (\1)", f) for f in frames[1:]]
        if fr:
            leaf[name][fr[-1]] += n
            for f in set(fr): incl[name][f] += n
    return per, leaf, incl
def main():
    gil, ticks_gil = sys.argv[1], float(sys.argv[2])
    per, leaf, incl = load(gil)
    tot = sum(per.values())
    print(f"GIL held in {tot} of {ticks_gil:.0f} ticks = {100*tot/ticks_gil:.0f}% of wall time")
    print("| thread | GIL samples | % of wall | % of GIL-held |")
    print("|---|---:|---:|---:|")
    for name, n in per.most_common():
        print(f"| {name} | {n} | {100*n/ticks_gil:.1f} | {100*n/tot:.1f} |")
    if len(sys.argv) > 3:
        act, ticks_act = sys.argv[3], float(sys.argv[4])
        pa, la, ia = load(act)
        print("\nactive (non-idle) samples:")
        print("| thread | active samples | % of wall |")
        print("|---|---:|---:|")
        for name, n in pa.most_common(12):
            print(f"| {name} | {n} | {100*n/ticks_act:.1f} |")
    for name, n in per.most_common(6):
        print(f"\n{name}: top self frames holding the GIL")
        for f, c in leaf[name].most_common(8):
            print(f"  {100*c/n:5.1f}%  {f}")
        print(f"{name}: top inclusive")
        for f, c in incl[name].most_common(25)[:25]:
            if "threading.py" in f or "_guard" in f or "bootstrap" in f: continue
            print(f"  {100*c/n:5.1f}%  {f}")
main()
