import os, shutil, sqlite3, sys, time, io
from pathlib import Path
import duckdb, pyarrow as pa, pyarrow.parquet as pq
keep = Path("/tmp/perf-load/keep")
from playlog.contracts import CopyTask
db = sqlite3.connect(keep / "log.sqlite")
tasks = [CopyTask.from_json(v) for (v,) in db.execute("select value from records where topic like '%cop%' order by offset")]
tasks = [t for t in tasks if t.game == "bench"]
data = {t.key: (keep / "objects" / t.key).read_bytes() for t in tasks}
cfg = dict(x.split("=") for x in sys.argv[1:] if "=" in x)
for rep in range(3):
    path = f"/tmp/perf-load/wh-{os.getpid()}-{rep}.duckdb"
    shutil.copy("/tmp/perf-load/wh-tpl.duckdb", path)
    c = duckdb.connect(path, config={"checkpoint_threshold": "256MB", **cfg})
    ph = dict(read=0.0, widths=0.0, register=0.0, insert=0.0, unregister=0.0, commit=0.0)
    t0 = time.process_time()
    cur = c.cursor(); cur.execute("BEGIN")
    for t in tasks:
        s = time.process_time()
        tb = pq.read_table(io.BytesIO(data[t.key]), columns=list(t.columns))
        ph["read"] += time.process_time() - s; s = time.process_time()
        if "nowidths" not in sys.argv:
            cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?", [t.game, t.event_type]).fetchall()
        ph["widths"] += time.process_time() - s; s = time.process_time()
        names = ", ".join(f'"{c}"' for c in t.columns)
        if "rel" in sys.argv:
            ph["register"] += 0
            cur.from_arrow(tb).insert_into(f'"{t.game}"."{t.event_type}"')
            ph["insert"] += time.process_time() - s; continue
        cur.register("_b", tb)
        ph["register"] += time.process_time() - s; s = time.process_time()
        cur.execute(f'INSERT INTO "{t.game}"."{t.event_type}" ({names}) SELECT {names} FROM _b')
        ph["insert"] += time.process_time() - s; s = time.process_time()
        cur.unregister("_b")
        ph["unregister"] += time.process_time() - s
    s = time.process_time(); cur.execute("COMMIT"); ph["commit"] += time.process_time() - s
    total = time.process_time() - t0
    print(f"{' '.join(sys.argv[1:])}: total {total:.3f} " + " ".join(f"{k}={v:.3f}" for k, v in ph.items()), flush=True)
    c.close(); [os.unlink(p) for p in Path('/tmp/perf-load').glob(f'wh-{os.getpid()}-*')]
