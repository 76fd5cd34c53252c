"""Issue 12: the kill -9 campaign, bounded. 1,000 tether-swarm agents and a few
real tether-agent processes (each command appends its jid to a file, as the
swarm does with --runs-file); single and multi-client submissions in flight,
each with its own idempotency key and retried with it after a failure; tetherd
killed with SIGKILL at random moments (seeded: the seed is printed, and
TETHER_KILL_SEED replays it) and restarted, sometimes after an outage longer
than the jobs' timeout_sec and delivery_timeout_sec. Then:

- no job ran twice, and no submission created two jobs;
- no job is left running past its deadlines;
- no job is 'unknown' unless it started; an expired job never ran;
- every accepted jid (200) reached a final status;
- the store passes PRAGMA integrity_check.

The figures are printed (and quoted in docs/benchmarks.md, "kill -9 campaign")."""
import collections
import json
import os
import random
import sqlite3
import threading
import time

from harness import wait_until

KILLS = int(os.environ.get("TETHER_KILLS", "32"))
SWARM = 1000
REAL = 3
TIMEOUT_SEC = 5
SHORT_DELIVERY_SEC = 4
LONG_OUTAGE_SEC = 6.5           # longer than timeout_sec and the short delivery deadline


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.strip() for l in f if l.strip()]


class Submitter(threading.Thread):
    """Keeps submissions in flight: each has a key and is retried with it
    (at most 6 times) after a transport error or a 5xx."""

    def __init__(self, server, rng, swarm_ids, real_ids, marker):
        super().__init__(daemon=True)
        self.s, self.rng = server, rng
        self.swarm_ids, self.real_ids, self.marker = swarm_ids, real_ids, marker
        self.stop = threading.Event()
        self.accepted = {}          # key -> (kind, jid)
        self.retry = collections.deque()
        self.outcomes = collections.Counter()
        self.n = 0

    def new(self):
        self.n += 1
        key = "campaign-%d" % self.n
        # The key in the command: a second job for one submission would show.
        cmd = "echo $TETHER_JOB_ID >> %s; sleep 0.2 # %s" % (self.marker, key)
        body = {"command": cmd, "timeout_sec": TIMEOUT_SEC, "idempotency_key": key}
        if self.rng.random() < 0.3:
            body["delivery_timeout_sec"] = SHORT_DELIVERY_SEC
        r = self.rng.random()
        if r < 0.25:
            size = self.rng.randint(100, SWARM)
            body["client_ids"] = self.rng.sample(self.swarm_ids, size) + self.real_ids
            body["execute_concurrently"] = True
            return key, "multi", "/api/v1/commands", body
        if r < 0.30:
            body["client_ids"] = self.rng.sample(self.swarm_ids, 2) + [self.rng.choice(self.real_ids)]
            return key, "multi", "/api/v1/commands", body
        cid = self.rng.choice(self.real_ids) if self.rng.random() < 0.3 else self.rng.choice(self.swarm_ids)
        return key, "single", "/api/v1/clients/%s/commands" % cid, body

    def run(self):
        while not self.stop.is_set():
            if self.retry and self.rng.random() < 0.5:
                key, kind, path, body, tries = self.retry.popleft()
            else:
                (key, kind, path, body), tries = self.new(), 0
            try:
                st, j = self.s.api("POST", path, body, timeout=15)
            except Exception:  # noqa: BLE001 - the server was killed under the request
                st, j = None, None
            self.outcomes[st] += 1
            if st == 200:
                self.accepted[key] = (kind, j["data"]["jid"])
            elif (st is None or st >= 500) and tries < 6:
                self.retry.append((key, kind, path, body, tries + 1))
            self.stop.wait(self.rng.uniform(0.005, 0.05))


def test_kill9_campaign(fleet, tmp_path, capsys):
    seed = int(os.environ.get("TETHER_KILL_SEED") or time.time_ns() % (1 << 31))

    def report(text):
        # shown even when pytest captures output (ctest runs it with -q)
        with capsys.disabled():
            print(text, flush=True)
    report("\nkill -9 campaign: seed=%d kills=%d (TETHER_KILL_SEED replays it)" % (seed, KILLS))
    rng = random.Random(seed)
    t_start = time.monotonic()
    s = fleet.server(extra="[server]\nresult_grace_sec = 3\n").start()
    swarm_runs = str(tmp_path / "swarm-runs.txt")
    real_runs = str(tmp_path / "real-runs.txt")
    sw = fleet.swarm(s, SWARM, "--delay-ms", "200", "--jitter-ms", "800",
                     "--min-retry-ms", "100", "--max-retry-ms", "800", "--runs-file", swarm_runs)
    sub = None
    try:
        said = lambda: [l for l in sw.lines() if l.startswith("swarm: ")]  # noqa: E731
        wait_until(said, 60, "the swarm's first line", procs=[sw.proc])
        assert said()[0] == "swarm: all %d connected" % SWARM
        real = [fleet.agent(s, "real-%d" % i) for i in range(REAL)]
        swarm_ids = ["swarm-%05d" % i for i in range(SWARM)]
        sub = Submitter(s, random.Random(seed + 1), swarm_ids, [a.cid for a in real], real_runs)
        sub.start()
        long_outages = 0
        for k in range(KILLS):
            # up for a random moment, submissions in flight; then SIGKILL
            time.sleep(rng.uniform(0.2, 2.0))
            s.kill9()
            if rng.random() < 1 / 6:
                long_outages += 1
                time.sleep(LONG_OUTAGE_SEC)
            else:
                time.sleep(rng.uniform(0.0, 0.5))
            s.start()
        sub.stop.set()
        sub.join(30)
        t_kills = time.monotonic() - t_start

        db_path = os.path.join(s.dir, "data", "tether.db")

        def query(sql, *args):
            db = sqlite3.connect(db_path, timeout=10)
            try:
                return db.execute(sql, args).fetchall()
            finally:
                db.close()

        # Settle: unfinished multi jobs resume 10 s after the last start, the
        # rest is bounded by timeout_sec + result_grace_sec.
        wait_until(lambda: query("SELECT count(*) FROM jobs WHERE status = 'running'")[0][0] == 0 and
                   query("SELECT count(*) FROM multi_jobs WHERE json_extract(data, '$.finished_at') IS NULL")[0][0] == 0,
                   120, "every job to be final", interval=0.5)
        assert query("PRAGMA integrity_check")[0][0] == "ok"
        jobs = query("SELECT jid, client_id, status, coalesce(state, ''), error, multi_job_id,"
                     " pid IS NOT NULL, command FROM jobs")
        runs = collections.Counter(lines(swarm_runs) + lines(real_runs))
        by_jid = {j[0]: j for j in jobs}

        # nothing ran twice; nothing ran that the store does not know
        twice = [jid for jid, n in runs.items() if n > 1]
        assert not twice, ("jobs run twice", twice[:10])
        assert not [jid for jid in runs if jid not in by_jid]
        # one job per submission (the key is in the command)
        keys = collections.Counter()
        for j in jobs:
            if j[5] is None:
                keys[j[7].rsplit("# ", 1)[1]] += 1
        for (cmd,) in query("SELECT json_extract(data, '$.command') FROM multi_jobs"):
            keys[cmd.rsplit("# ", 1)[1]] += 1
        assert not [k for k, n in keys.items() if n > 1], "a submission created two jobs"
        # every accepted jid is final
        for key, (kind, jid) in sub.accepted.items():
            if kind == "single":
                assert by_jid[jid][2] != "running", by_jid[jid]
            else:
                st, m = s.api("GET", "/api/v1/commands/" + jid)
                assert st == 200 and m["data"]["finished_at"], (st, m)
        # unknown only for a job that started; expired ones never ran
        outcomes = collections.Counter((j[2], j[3]) for j in jobs)
        unknown_not_run = [j for j in jobs if j[2] == "unknown" and j[0] not in runs]
        assert not unknown_not_run, ("unknown though it never ran", unknown_not_run[:5])
        expired_ran = [j for j in jobs if j[3] == "expired" and j[0] in runs]
        assert not expired_ran, ("expired though it ran", expired_ran[:5])
        success_not_run = [j for j in jobs if j[2] == "successful" and j[0] not in runs]
        assert not success_not_run, success_not_run[:5]

        children = sum(1 for j in jobs if j[5] is not None)
        accepted_multi = sum(1 for kind, _ in sub.accepted.values() if kind == "multi")
        report("kill -9 campaign: seed=%d kill_points=%d long_outages=%d submissions=%d "
              "answers=%s" % (seed, KILLS, long_outages, sub.n,
                              dict(sorted(((str(k), v) for k, v in sub.outcomes.items())))))
        report("kill -9 campaign: accepted=%d (single %d, multi %d) jobs=%d children=%d "
              "runs=%d run_twice=0 elapsed=%.0fs (kills %.0fs)"
              % (len(sub.accepted), len(sub.accepted) - accepted_multi, accepted_multi,
                 len(jobs), children, sum(runs.values()), time.monotonic() - t_start, t_kills))
        report("kill -9 campaign: outcomes " + ", ".join(
            "%s%s=%d" % (st, "/" + state if state else "", n)
            for (st, state), n in sorted(outcomes.items())))
        errors = collections.Counter(j[4].split(":")[0] for j in jobs if j[2] != "successful")
        report("kill -9 campaign: errors " + json.dumps(dict(errors.most_common(8))))
        assert len(sub.accepted) > 50 and children > 1000
    finally:
        if sub:
            sub.stop.set()
        sw.stop(20)
