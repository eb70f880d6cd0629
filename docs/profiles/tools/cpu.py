"""Per-thread CPU of a process over an interval, from /proc (no sampling overhead)."""
import os, re, sys, time, collections
HZ = os.sysconf("SC_CLK_TCK")
def snap(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{tid}/stat").read()
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
        except OSError: continue
        f = stat.rpartition(")")[2].split()
        out[tid] = (comm, int(f[11]) + int(f[12]))
    return out
def total(pid):
    f = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return int(f[11]) + int(f[12])
def machine():
    f = open("/proc/stat").readline().split()[1:]
    v = list(map(int, f)); return sum(v), v[3] + v[4]
names = {}
if os.environ.get("DUMP"):
    for line in open(os.environ["DUMP"]):
        m = re.match(r'Thread (\d+) \(\w+\): "(.*)"', line)
        if m: names[m.group(1)] = re.sub(r"-\d+$", "-N", m.group(2))
pids = [int(p) for p in sys.argv[2:]]; secs = float(sys.argv[1])
a = {p: snap(p) for p in pids}; m0 = machine(); t0 = time.monotonic()
time.sleep(secs)
b = {p: snap(p) for p in pids}; m1 = machine(); dt = time.monotonic() - t0
busy = 1 - (m1[1]-m0[1])/(m1[0]-m0[0])
print(f"interval {dt:.1f} s; machine busy {100*busy:.0f}% of 2 cores")
for p in pids:
    per = collections.Counter()
    for tid, (comm, t) in b[p].items():
        t0_ = a[p].get(tid, (comm, 0))[1]
        name = names.get(tid, comm)
        per[name] += (t - t0_) / HZ / dt
    print(f"pid {p}: {100*sum(per.values()):.0f}% of one core")
    for name, c in per.most_common(10):
        if c > 0.005: print(f"  {name:20s} {100*c:5.1f}%")
