"""A/B: the P3 playlog path (`playlog up` after ingest) for several source trees, interleaved.

Ingests once into a template (data dir; for PostgreSQL a template database), then for each
round and each variant: a copy of the data dir (and a database cloned from the template),
`playlog up` with PYTHONPATH at the variant's tree, timed until every event is queryable.
Optionally dlt's three ways per round too (bench venv) for reference.
"""
from __future__ import annotations
import argparse, os, shutil, signal, subprocess, sys, tempfile, time, statistics
from pathlib import Path
TREE = os.environ["TREE"]
sys.path.insert(0, TREE + "/benchmarks")
from harness import GAME, mix_schema, poll_until, serving, Server
from dlt_compare import make_events, PER_CONTAINER, Target, dlt_rate, loaded
from playlog.cli.demo import free_port, start_server
from playlog.client import Client, admin_key_of
from playlog.client.ocf import ocf_body

p = argparse.ArgumentParser()
p.add_argument("--events", type=int, default=210_000)
p.add_argument("--dsn", default="")  # admin DSN of a PostgreSQL server (dbname=postgres)
p.add_argument("--rounds", type=int, default=3)
p.add_argument("--variant", action="append", required=True, help="name=srcdir[:ENV=V,...]")
p.add_argument("--dlt", action="store_true")
p.add_argument("--logs", default="/tmp/perf-load/ablogs")
args = p.parse_args()
events = make_events(args.events, 70)
expected = {t: len(r) for t, r in events.items()}
total = sum(expected.values())
logs = Path(args.logs); logs.mkdir(parents=True, exist_ok=True)
variants = []
for v in args.variant:
    name, _, rest = v.partition("=")
    src, _, env = rest.partition(":")
    variants.append((name, src, dict(kv.split("=", 1) for kv in env.split(",") if kv)))

def admin(sql):
    import psycopg
    with psycopg.connect(args.dsn, autocommit=True) as c:
        c.execute(sql)

def dsn_of(db):
    return args.dsn.rsplit("dbname=", 1)[0] + f"dbname={db}"

results = {}
with tempfile.TemporaryDirectory(prefix="perfload-ab-") as tmp:
    tmp = Path(tmp)
    template = f"perfload_tpl_{os.getpid()}"
    config = None
    if args.dsn:
        admin(f"CREATE DATABASE {template}")
        config = Target(None, dsn_of(template)).playlog_config(tmp)
    tpl_dir = tmp / "template"
    with serving(config, stages="ingest", data_dir=tpl_dir) as server:
        key = server.register(len(events))
        sender = Client(server.url, key)
        for i, rows in enumerate(events.values()):
            for at in range(0, len(rows), PER_CONTAINER):
                sender.send(GAME, ocf_body(mix_schema(i), rows[at:at + PER_CONTAINER]), "application/avro")
    (tpl_dir / "server.json").unlink(missing_ok=True)
    try:
        for r in range(args.rounds):
            for name, src, env in variants:
                run_dir = tmp / f"run-{r}-{name}"
                shutil.copytree(tpl_dir, run_dir / "data")
                cfg = None
                if args.dsn:
                    db = f"perfload_{os.getpid()}_{r}_{name}".replace("-", "_")
                    admin(f"CREATE DATABASE {db} TEMPLATE {template}")
                    cfg = Target(None, dsn_of(db)).playlog_config(run_dir)
                old = dict(os.environ)
                os.environ.update(env)
                os.environ["PYTHONPATH"] = f"{src}:{os.environ.get('HOOK', '')}"
                log_file = logs / f"{name}-{r}.log"
                log_file.unlink(missing_ok=True)
                try:
                    child, url = start_server(run_dir / "data", free_port(), log_file, cfg, "up")
                finally:
                    os.environ.clear(); os.environ.update(old)
                srv = Server(url, run_dir / "data", Client(url, admin_key_of(run_dir / "data")))
                started = time.monotonic()
                ok = poll_until(lambda: loaded(srv, expected), 600, 0.1)
                took = time.monotonic() - started
                child.send_signal(signal.SIGTERM); child.wait(120)
                rate = total / took if ok else 0.0
                results.setdefault(name, []).append(rate)
                print(f"round {r} {name}: {rate:,.0f} events/s ({took:.2f}s){'' if ok else ' FAILED'}", flush=True)
                if args.dsn:
                    admin(f"DROP DATABASE {db} WITH (FORCE)")
                shutil.rmtree(run_dir, ignore_errors=True)
            if args.dlt:
                for how in ("default", "parquet", "arrow"):
                    with tempfile.TemporaryDirectory(prefix="perfload-dlt-") as dtmp:
                        if args.dsn:
                            db = f"perfload_dlt_{os.getpid()}_{r}_{how}"
                            admin(f"CREATE DATABASE {db}")
                            target = Target(None, dsn_of(db))
                        else:
                            target = Target(Path(dtmp) / "w.duckdb")
                        rate = dlt_rate(target, events, how, Path(dtmp))
                        if args.dsn:
                            admin(f"DROP DATABASE {db} WITH (FORCE)")
                    results.setdefault(f"dlt {how}", []).append(rate)
                    print(f"round {r} dlt {how}: {rate:,.0f} events/s", flush=True)
    finally:
        if args.dsn:
            admin(f"DROP DATABASE IF EXISTS {template} WITH (FORCE)")
print("--- medians")
for name, rates in results.items():
    print(f"{name}: median {statistics.median(rates):,.0f} events/s  all {[round(x) for x in rates]}")
