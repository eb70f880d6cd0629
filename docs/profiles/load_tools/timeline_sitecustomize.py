"""Profiling aid (not in the repo): a timeline of process batches and load transactions."""
import logging, os, time, threading
if os.environ.get("PLAYLOG_TIMELINE"):
    logging.getLogger("playlog.process").setLevel(logging.DEBUG)
    _t0 = time.monotonic()
    _tl = logging.getLogger("timeline")
    _tl.setLevel(logging.INFO)
    def _wrap():
        from playlog.warehouse import sqlbase
        from playlog.process import transform
        orig = sqlbase.SqlWarehouse.load
        def load(self, tasks):
            s = time.monotonic()
            try:
                return orig(self, tasks)
            finally:
                e = time.monotonic()
                _tl.info("load %s tasks=%d rows=%d tables=%d %.3f..%.3f (%.3fs)", threading.current_thread().name, len(tasks), sum(t.rows for t in tasks), len({t.table for t in tasks}), s - _t0, e - _t0, e - s)
        sqlbase.SqlWarehouse.load = load
        origt = transform.transform_range
        def tr(span, records, *a, **k):
            s = time.monotonic()
            try:
                r = origt(span, records, *a, **k)
                return r
            finally:
                e = time.monotonic()
                _tl.info("transform %s-%d %d..%d %.3f..%.3f (%.3fs)", span.topic, span.partition, span.first, span.last, s - _t0, e - _t0, e - s)
        transform.transform_range = tr
        from playlog.engine import inprocess
        if hasattr(inprocess, "transform_range"):
            inprocess.transform_range = tr
    _wrap()
