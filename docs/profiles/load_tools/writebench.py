import io, time, shutil, tempfile
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
import pyarrow.parquet as pq
from playlog.storage.local import LocalStore
keep = Path("/tmp/perf-load/keep")
tables = [pq.read_table(p) for p in (keep / "objects/bench").rglob("*.parquet")]
def write(store, i, t):
    out = io.BytesIO(); pq.write_table(t, out, compression="zstd"); store.put(f"g/e{i}/dt=x/f.parquet", out.getvalue())
for r in range(3):
    for n in (1, 2, 4, 8):
        d = Path(tempfile.mkdtemp(dir="/tmp/perf-load")); store = LocalStore(d)
        t0 = time.perf_counter()
        if n == 1:
            for i, t in enumerate(tables): write(store, i, t)
        else:
            with ThreadPoolExecutor(n) as pool: list(pool.map(lambda a: write(store, *a), enumerate(tables)))
        print(f"threads={n}: {time.perf_counter()-t0:.3f}s", end="  ", flush=True)
        shutil.rmtree(d)
    print()
