#!/bin/sh
# bench/retention: API latency before and during a job purge of a store
# holding 1,000,000 jobs (issue 15, item 9).
#
# A tetherd (build/) makes its store once and stops; 1,000,000 finished jobs
# of 10 clients are written straight into it with Python's sqlite3; tetherd
# starts again with jobs_max_results = 1000, so its first purge (45 s after
# the start) deletes 990,000 jobs. One agent (bench-9) is connected: the
# purge takes the clients in id order, so bench-9 keeps its 100,000 jobs
# until the last tenth of the purge and its list costs the same before and
# during. Runs of 40 rounds (a job list of bench-9, 50 a page, then a
# submission to it) are timed before the purge (after two warm-up runs) and
# while it runs; the output gives the median of each run's median with the
# range over runs, the p99 and the maximum.
# Bounded: the whole run is about 4 minutes here, and stops after 10.
#
# Usage: bench/retention.sh [JOBS]   (default 1000000)
set -e
cd "$(dirname "$0")/.."
export TETHER_BUILD="${TETHER_BUILD:-$PWD/build}"
exec /usr/bin/python3 - "$@" <<'EOF'
import os
import shutil
import sqlite3
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.getcwd(), "tests", "e2e"))
import harness  # noqa: E402

JOBS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
CLIENTS = 10
CAP = 1000
ROUNDS = 40
FIRST_PURGE_S = 45
LIMIT_S = 600
CID = "bench-%d" % (CLIENTS - 1)

start = time.monotonic()
tmp = "/tmp/tether-bench-retention-%d" % os.getpid()
os.makedirs(tmp)
extra = """
[server]
jobs_max_results = %d
purge_jobs_interval = %d
log_level = "debug"
""" % (CAP, FIRST_PURGE_S)
s = harness.Server(tmp, extra=extra)
a = None
try:
    s.start()
    a = harness.Agent(tmp, s, CID)
    a.start()
    s.wait_connected(CID)
    s.stop()
    db_path = os.path.join(s.data_dir, "tether.db")
    t = time.monotonic()
    db = sqlite3.connect(db_path)
    t0 = time.time_ns() - 30 * 86400 * 10**9
    step = 30 * 86400 * 10**9 // JOBS
    rows = ((str(uuid.uuid4()), "bench-%d" % (i % CLIENTS), "bench-%d" % (i % CLIENTS),
             "successful", "echo %d" % i, 60, "admin", t0 + i * step, t0 + i * step,
             t0 + i * step + 10**8, 0, b"output of job %d\n" % i) for i in range(JOBS))
    db.executemany("INSERT INTO jobs (jid, client_id, client_name, status, command,"
                   " timeout_sec, created_by, created_at, started_at, finished_at,"
                   " exit_code, stdout) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()
    size_before = os.path.getsize(db_path)
    print("filled %d jobs in %.1f s; tether.db %.0f MB" % (JOBS, time.monotonic() - t,
                                                           size_before / 1e6), flush=True)
    s.start()
    s.wait_connected(CID, timeout=60)

    def timed(method, path, body=None):
        t = time.monotonic()
        st, j = s.api(method, path, body)
        assert st == 200, (st, j)
        return (time.monotonic() - t) * 1000

    def run():
        lists, subs = [], []
        for _ in range(ROUNDS):
            lists.append(timed("GET", "/api/v1/clients/%s/commands?page[limit]=50" % CID))
            subs.append(timed("POST", "/api/v1/clients/%s/commands" % CID, {"command": "true"}))
        return lists, subs

    def log():
        return s.proc.output()

    before, during = [], []
    run()
    run()
    while "job purge started" not in log() and len(before) < 8:
        r = run()
        if "job purge started" not in log():
            before.append(r)
    harness.wait_until(lambda: "job purge started" in log(), FIRST_PURGE_S + 30,
                       "the purge to start", procs=[s.proc])
    while "retention: purged" not in log():
        if time.monotonic() - start > LIMIT_S:
            raise SystemExit("stopped: over %d s" % LIMIT_S)
        r = run()
        if "retention: purged" not in log():
            during.append(r)
    line = [l for l in log().splitlines() if "retention: purged" in l][0]
    size_after = os.path.getsize(db_path)

    def report(name, runs, k):
        meds = [statistics.median(r[k]) for r in runs]
        every = sorted(x for r in runs for x in r[k])
        p99 = every[min(len(every) - 1, int(len(every) * 0.99))]
        print("%-28s runs %2d  median %6.1f ms (runs %5.1f-%5.1f)  p99 %6.1f  max %6.1f"
              % (name, len(runs), statistics.median(meds), min(meds), max(meds), p99,
                 every[-1]))

    print(line.split("info: ")[-1])
    print("tether.db %.0f MB before, %.0f MB after" % (size_before / 1e6, size_after / 1e6))
    report("job list, before", before, 0)
    report("job list, during purge", during, 0)
    report("submission, before", before, 1)
    report("submission, during purge", during, 1)
    print("total %.0f s" % (time.monotonic() - start))
finally:
    if a:
        a.stop()
    s.stop()
    shutil.rmtree(tmp, ignore_errors=True)
EOF
