#!/usr/bin/python3
"""Benchmark driver for pgsqlms (Rust) against PAF 2.3 (Perl), run by benches/run.sh.

It builds one PostgreSQL 15 replication set (node-a primary, node-b and node-c standbys, each
with its own data directory, socket directory and port, Unix sockets only) under a temporary
directory, and runs BOTH agents, interleaved, against the same instances:

* monitor on a standby (node-c) and on the primary, in steady state (one warm-up call each);
* stop and start of a standby;
* a switchover: pre-demote notify round, demote, post-demote round, pre-promote round,
  promote, post-promote round (the lists Pacemaker passes for `crm_resource --move
  --promoted`), the two agents taking turns, the primary moving between node-a and node-b;
* process counts (strace -f, successful execve calls minus the agent's own) for monitors and,
  in one extra traced pass per agent, for every action.

Each agent call is spawned with os.posix_spawn and reaped with os.wait4: the wall time is
taken around that, the CPU time (user + system) is the wait4 rusage, which includes every
descendant the agent waited for (not the postmaster it starts, nor the server backends that
serve its queries).

Pacemaker is not running: both agents find recording stand-ins first on their PATH (ours:
tests/standins, the forms of docs/agent-contract.md; PAF: benches/paf-standins, PAF's forms,
plus the real /usr/sbin/crm_master wrapper, reached through HA_SBIN_DIR).

Results go to a JSON file; benches/report.py turns it into RESULTS.md.
"""
import json
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import time

BINDIR = "/usr/lib/postgresql/15/bin"
RSC = "pgsqld"
NODES = ["node-a", "node-b", "node-c"]
PAF = "/usr/lib/ocf/resource.d/heartbeat/pgsqlms"

COMMON_CONF = """
# --- pgsqlms benchmark (benches/bench.py) ---
listen_addresses = ''
wal_level = replica
hot_standby = on
max_wal_senders = 10
wal_keep_size = 128MB
recovery_target_timeline = 'latest'
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 1s
shared_buffers = 16MB
max_connections = 20
fsync = off
log_line_prefix = '%m [%p] %b '
include 'pgsqlms_node.conf'
"""

# Operation timeouts (ms) given to both agents: PAF's documented example values.
TIMEOUTS = {"start": 60000, "stop": 60000, "promote": 30000, "demote": 120000,
            "notify": 60000, "monitor": 10000}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Failure(Exception):
    pass


class Bench:
    def __init__(self, root, ours_bin, repo, n_monitor, reps, n_trace):
        self.root = root
        self.ours_bin = ours_bin
        self.repo = repo
        self.n_monitor = n_monitor
        self.reps = reps
        self.n_trace = n_trace
        pw = pwd.getpwnam("postgres")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.port0 = 25400
        self.nodes = {}
        for i, n in enumerate(NODES):
            d = os.path.join(root, n)
            self.nodes[n] = {
                "dir": d,
                "pgdata": os.path.join(d, "data"),
                "sock": os.path.join(d, "sock"),
                "port": self.port0 + i,
                "log": os.path.join(d, "postgresql.log"),
            }
        self.agents = {
            "ours": {"bin": ours_bin, "path": os.path.join(root, "bin-ours"),
                     "attrs": os.path.join(root, "attrs-ours")},
            "paf": {"bin": PAF, "path": os.path.join(root, "bin-paf"),
                    "attrs": os.path.join(root, "attrs-paf")},
        }
        self.seq = 0
        self.results = {"monitor": {}, "actions": {}, "execve": {}, "errors": []}

    # ------------------------------------------------------------------ set-up

    def chown(self, p):
        os.chown(p, self.uid, self.gid)

    def pg(self, prog, *args, check=True, timeout=120):
        cmd = ["/usr/sbin/runuser", "-u", "postgres", "--", os.path.join(BINDIR, prog), *args]
        r = subprocess.run(cmd, cwd=self.root, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
        if check and r.returncode != 0:
            raise Failure(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r

    def sql(self, node, q, check=True):
        n = self.nodes[node]
        r = self.pg("psql", "-h", n["sock"], "-p", str(n["port"]), "-U", "postgres",
                    "-d", "postgres", "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", q, check=check,
                    timeout=30)
        return r.stdout.strip()

    def node_conf(self, node, upstream):
        n, u = self.nodes[node], self.nodes[upstream]
        p = os.path.join(n["pgdata"], "pgsqlms_node.conf")
        with open(p, "w") as f:
            f.write(f"port = {n['port']}\nunix_socket_directories = '{n['sock']}'\n"
                    f"primary_conninfo = 'host={u['sock']} port={u['port']} "
                    f"application_name={node}'\n")
        self.chown(p)
        os.chmod(p, 0o600)

    def reload(self, node):
        self.pg("pg_ctl", "-D", self.nodes[node]["pgdata"], "reload")

    def setup(self):
        os.chmod(self.root, 0o755)
        for name, a in self.agents.items():
            os.makedirs(a["path"])
            src = (os.path.join(self.repo, "tests/standins") if name == "ours"
                   else os.path.join(self.repo, "benches/paf-standins"))
            for tool in sorted(os.listdir(src)):
                shutil.copy(os.path.join(src, tool), os.path.join(a["path"], tool))
                os.chmod(os.path.join(a["path"], tool), 0o755)
            if name == "paf":
                # PAF runs $HA_SBIN_DIR/crm_master: the real wrapper from pacemaker-cli-utils,
                # which runs getopt and then crm_attribute (the stand-in) from PATH.
                os.symlink("/usr/sbin/crm_master", os.path.join(a["path"], "crm_master"))
            os.makedirs(a["attrs"])
            os.chmod(a["attrs"], 0o777)
            for sub in ["promotion/" + RSC, "promotion/master-" + RSC] + \
                    [f"private/{n}" for n in NODES]:
                os.makedirs(os.path.join(a["attrs"], sub), exist_ok=True)
            for dp, dns, _ in os.walk(a["attrs"]):
                for d in dns:
                    os.chmod(os.path.join(dp, d), 0o777)
            with open(os.path.join(a["attrs"], "partition"), "w") as f:
                f.write(" ".join(NODES) + "\n")
            with open(os.path.join(a["attrs"], "calls.log"), "w"):
                pass
            os.chmod(os.path.join(a["attrs"], "calls.log"), 0o666)
            for n in NODES:
                os.makedirs(os.path.join(self.root, f"rsctmp-{name}", n))
        os.makedirs(os.path.join(self.root, "out"))
        for n in NODES:
            d = self.nodes[n]
            os.makedirs(d["sock"])
            self.chown(d["dir"])
            self.chown(d["sock"])
        a = self.nodes["node-a"]
        log("initdb node-a")
        self.pg("initdb", "-D", a["pgdata"], "-A", "trust", "-U", "postgres", "-E", "UTF8",
                "--locale=C", "--no-sync", "--no-instructions")
        with open(os.path.join(a["pgdata"], "postgresql.conf"), "a") as f:
            f.write(COMMON_CONF)
        self.node_conf("node-a", "node-a")
        self.pg("pg_ctl", "-D", a["pgdata"], "-l", a["log"], "-w", "-t", "60", "start")
        self.sql("node-a", "CREATE TABLE bench (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
        for n in ("node-b", "node-c"):
            d = self.nodes[n]
            log(f"pg_basebackup {n}")
            self.pg("pg_basebackup", "-h", a["sock"], "-p", str(a["port"]), "-U", "postgres",
                    "-D", d["pgdata"], "-X", "stream", "-c", "fast", "--no-sync")
            self.node_conf(n, "node-a")
            open(os.path.join(d["pgdata"], "standby.signal"), "w").close()
            self.chown(os.path.join(d["pgdata"], "standby.signal"))
            self.pg("pg_ctl", "-D", d["pgdata"], "-l", d["log"], "-w", "-t", "60", "start")
        self.primary = "node-a"
        self.wait_streaming("node-a", ["node-b", "node-c"])

    def wait_streaming(self, primary, standbys, secs=60):
        deadline = time.monotonic() + secs
        want = set(standbys)
        while True:
            try:
                out = self.sql(primary, "SELECT application_name FROM pg_stat_replication "
                                        "WHERE state = 'streaming'", check=False)
                got = set(out.split())
            except subprocess.TimeoutExpired:
                got = set()
            if want <= got:
                return
            if time.monotonic() > deadline:
                raise Failure(f"standbys {sorted(want - got)} not streaming from {primary}")
            time.sleep(0.1)

    def teardown(self):
        for n in NODES:
            pid_file = os.path.join(self.nodes[n]["pgdata"], "postmaster.pid")
            if os.path.exists(pid_file):
                self.pg("pg_ctl", "-D", self.nodes[n]["pgdata"], "-m", "immediate", "-w",
                        "stop", check=False)

    # ------------------------------------------------------------------ running an agent

    def env(self, agent, node, action, extra=None):
        a, n = self.agents[agent], self.nodes[node]
        e = {
            "PATH": f"{a['path']}:/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL": "C",
            "OCF_ROOT": "/usr/lib/ocf",
            "OCF_RA_VERSION_MAJOR": "1",
            "OCF_RA_VERSION_MINOR": "1",
            "OCF_RESOURCE_INSTANCE": RSC,
            "OCF_RESOURCE_TYPE": "pgsqlms",
            "OCF_RESKEY_system_user": "postgres",
            "OCF_RESKEY_bindir": BINDIR,
            "OCF_RESKEY_pgdata": n["pgdata"],
            "OCF_RESKEY_pghost": n["sock"],
            "OCF_RESKEY_pgport": str(n["port"]),
            "OCF_RESKEY_CRM_meta_on_node": node,
            "OCF_RESKEY_CRM_meta_on_node_uuid": node,
            "OCF_RESKEY_CRM_meta_timeout": str(TIMEOUTS[action]),
            "OCF_RESKEY_CRM_meta_interval": "0",
            "OCF_RESKEY_CRM_meta_notify": "true",
            "OCF_RESKEY_CRM_meta_master_max": "1",
            "OCF_RESKEY_CRM_meta_master_node_max": "1",
            "OCF_RESKEY_CRM_meta_promoted_max": "1",
            "OCF_RESKEY_CRM_meta_promoted_node_max": "1",
            "OCF_RESKEY_CRM_meta_clone_max": str(len(NODES)),
            "OCF_RESKEY_CRM_meta_clone_node_max": "1",
            "OCF_RESKEY_CRM_meta_globally_unique": "false",
            "OCF_RESKEY_CRM_meta_promotable": "true",
            "OCF_RESKEY_crm_feature_set": "3.16.2",
            "HA_LOGFACILITY": "none",
            "HA_debug": "0",
            "HA_RSCTMP": os.path.join(self.root, f"rsctmp-{agent}", node),
            "PGSQLMS_TEST_ATTRS": a["attrs"],
            "PGSQLMS_TEST_LOCAL_NODE": node,
        }
        if agent == "paf":
            e["HA_SBIN_DIR"] = a["path"]
        if extra:
            e.update(extra)
        return e

    def run(self, agent, node, action, extra=None, trace=None, expect=None):
        """One agent call. Returns (rc, wall seconds, cpu seconds)."""
        self.seq += 1
        e = self.env(agent, node, action, extra)
        out = os.path.join(self.root, "out", f"{self.seq:05d}-{agent}-{node}-{action}")
        binary = self.agents[agent]["bin"]
        argv = [binary, action]
        if trace:
            argv = ["/usr/bin/strace", "-I", "1", "-f", "-q", "-e", "trace=execve,execveat", "-o", trace,
                    "--", *argv]
        fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
              (os.POSIX_SPAWN_OPEN, 1, out + ".out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
              (os.POSIX_SPAWN_OPEN, 2, out + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
        limit = TIMEOUTS[action] / 1000 + 30
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, e, file_actions=fa)
        if trace:
            rc = self.wait_traced(pid, trace, limit)
            self.check(agent, node, action, rc, expect, out)
            return rc, time.perf_counter() - t0, 0.0

        def on_alarm(_s, _f):
            os.kill(pid, signal.SIGKILL)
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            _, status, ru = os.wait4(pid, 0)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        wall = time.perf_counter() - t0
        cpu = ru.ru_utime + ru.ru_stime
        rc = os.waitstatus_to_exitcode(status)
        self.check(agent, node, action, rc, expect, out)
        return rc, wall, cpu

    def check(self, agent, node, action, rc, expect, out):
        if expect is not None and rc != expect:
            with open(out + ".err") as f:
                err = f.read()[-3000:]
            raise Failure(f"{agent} {action} on {node}: rc={rc}, expected {expect}\n{err}")

    @staticmethod
    def wait_traced(pid, trace, limit):
        """strace -f does not exit while a traced process lives, and start/demote leave a
        postmaster behind: once the agent itself has exited, interrupt strace (it detaches from
        the postmaster, which keeps running). Returns the agent's exit code."""
        deadline = time.monotonic() + limit
        agent_pid, rc = None, None
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            try:
                with open(trace) as f:
                    for line in f:
                        p, _, rest = line.partition(" ")
                        if agent_pid is None:
                            agent_pid = p
                        if p == agent_pid and rest.startswith("+++ exited with "):
                            rc = int(rest.split()[3])
                        elif p == agent_pid and rest.startswith("+++ killed by "):
                            rc = -1
            except FileNotFoundError:
                pass
            if done:
                return rc if rc is not None else os.waitstatus_to_exitcode(status)
            if rc is not None:
                time.sleep(0.2)
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
                return rc
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return -9
            time.sleep(0.05)

    # ------------------------------------------------------------------ measurements

    def count_execve(self, agent, node, action, extra=None, expect=None, calls=1):
        """Successful execve calls in the agent's process tree, minus the agent itself, per
        call; with the programs run."""
        total, progs = 0, {}
        for i in range(calls):
            tf = os.path.join(self.root, "out", f"strace-{agent}-{node}-{action}-{self.seq}")
            self.run(agent, node, action, extra, trace=tf, expect=expect)
            n = 0
            with open(tf) as f:
                for line in f:
                    if "execve" not in line or not line.rstrip().endswith("= 0"):
                        continue
                    n += 1
                    try:
                        prog = line.split('"', 2)[1]
                    except IndexError:
                        prog = "?"
                    progs[os.path.basename(prog)] = progs.get(os.path.basename(prog), 0) + 1
            # the first successful execve is strace starting the agent
            total += n - 1
            first = os.path.basename(self.agents[agent]["bin"])
            progs[first] = progs.get(first, 0) - 1
        progs = {k: v / calls for k, v in sorted(progs.items()) if v}
        return total / calls, progs

    def monitors(self):
        standby = "node-c"
        primary = self.primary
        for agent in ("ours", "paf"):
            # Warm-up: the first monitor writes the scores (and our score cache); then steady state.
            self.run(agent, standby, "monitor", {"OCF_RESKEY_CRM_meta_interval": "16000"}, expect=0)
            self.run(agent, primary, "monitor", {"OCF_RESKEY_CRM_meta_interval": "15000"}, expect=8)
        before = self.calls_count()
        for role, node, interval, rc in (("standby", standby, "16000", 0),
                                         ("primary", primary, "15000", 8)):
            data = {"ours": {"wall": [], "cpu": []}, "paf": {"wall": [], "cpu": []}}
            log(f"monitor on the {role} ({node}): {self.n_monitor} calls per agent, interleaved")
            for i in range(self.n_monitor):
                order = ("ours", "paf") if i % 2 == 0 else ("paf", "ours")
                for agent in order:
                    _, w, c = self.run(agent, node, "monitor",
                                       {"OCF_RESKEY_CRM_meta_interval": interval}, expect=rc)
                    data[agent]["wall"].append(w)
                    data[agent]["cpu"].append(c)
            self.results["monitor"][role] = data
            for agent in ("ours", "paf"):
                n, progs = self.count_execve(agent, node, "monitor",
                                             {"OCF_RESKEY_CRM_meta_interval": interval},
                                             expect=rc, calls=self.n_trace)
                self.results["execve"][f"monitor ({role})"] = \
                    self.results["execve"].get(f"monitor ({role})", {})
                self.results["execve"][f"monitor ({role})"][agent] = {"per_call": n, "progs": progs}
        # Calls to the cluster tools (stand-ins' call logs) by all the steady-state monitors
        # (timed and traced): ours must make none.
        after = self.calls_count()
        self.results["monitor_tool_calls"] = {k: after[k] - before[k] for k in before}
        self.results["monitor_calls_per_agent"] = 2 * (self.n_monitor + self.n_trace)

    def calls_count(self):
        out = {}
        for k, a in self.agents.items():
            with open(os.path.join(a["attrs"], "calls.log")) as f:
                out[k] = sum(1 for _ in f)
        return out

    def record(self, agent, what, wall, cpu):
        d = self.results["actions"].setdefault(what, {}).setdefault(agent, {"wall": [], "cpu": []})
        d["wall"].append(wall)
        d["cpu"].append(cpu)

    def stop_start_standby(self, rep, trace=False):
        node = "node-c"
        order = ("ours", "paf") if rep % 2 == 0 else ("paf", "ours")
        for agent in order:
            for action, rc_after in (("stop", 7), ("start", 0)):
                if trace:
                    n, progs = self.count_execve(agent, node, action, expect=0)
                    self.results["execve"].setdefault(f"{action} (standby)", {})[agent] = \
                        {"per_call": n, "progs": progs}
                else:
                    _, w, c = self.run(agent, node, action, expect=0)
                    self.record(agent, f"{action} (standby)", w, c)
                self.run(agent, node, "monitor", {"OCF_RESKEY_CRM_meta_interval": "16000"},
                         expect=rc_after)
            self.wait_streaming(self.primary, ["node-c"] if self.primary != "node-c" else [])

    def notify_env(self, old, new, typ, op):
        standbys = [n for n in NODES if n != old]
        lists = {"active": NODES, "inactive": [], "start": [], "stop": [],
                 "promote": [new], "demote": [old], "master": [old], "slave": standbys,
                 "promoted": [old], "unpromoted": standbys}
        e = {"OCF_RESKEY_CRM_meta_notify_type": typ,
             "OCF_RESKEY_CRM_meta_notify_operation": op}
        for k, l in lists.items():
            e[f"OCF_RESKEY_CRM_meta_notify_{k}_uname"] = " ".join(l)
            e[f"OCF_RESKEY_CRM_meta_notify_{k}_resource"] = " ".join(
                f"{RSC}:{NODES.index(x)}" for x in l)
        return e

    def switchover(self, agent, trace=False):
        """Move the primary from self.primary to the other of node-a/node-b with `agent`, as
        Pacemaker does for crm_resource --move --promoted."""
        old = self.primary
        new = "node-b" if old == "node-a" else "node-a"
        third = "node-c"
        # The demoted primary will stream from the new one (in a cluster it follows the VIP).
        self.node_conf(old, new)
        steps = [("notify", "pre", "demote", NODES), ("demote", None, None, [old]),
                 ("notify", "post", "demote", NODES), ("notify", "pre", "promote", NODES),
                 ("promote", None, None, [new]), ("notify", "post", "promote", NODES)]
        round_times = {}
        for action, typ, op, on in steps:
            label = action if action != "notify" else f"notify {typ}-{op}"
            extra = self.notify_env(old, new, typ or "pre", op or action) if action == "notify" \
                else self.notify_env(old, new, "pre", action)
            if action != "notify":
                # demote/promote get no notify_type/operation variables from Pacemaker
                extra = {k: v for k, v in extra.items()
                         if k not in ("OCF_RESKEY_CRM_meta_notify_type",
                                      "OCF_RESKEY_CRM_meta_notify_operation")}
            worst = 0.0
            for node in on:
                if trace:
                    n, progs = self.count_execve(agent, node, action, extra, expect=0)
                    key = label if action != "notify" else f"{label} (per node)"
                    e = self.results["execve"].setdefault(key, {}).setdefault(
                        agent, {"per_call": 0, "progs": {}, "calls": 0})
                    e["calls"] += 1
                    e["per_call"] += (n - e["per_call"]) / e["calls"]
                    for k, v in progs.items():
                        e["progs"][k] = e["progs"].get(k, 0) + v
                else:
                    _, w, c = self.run(agent, node, action, extra, expect=0)
                    self.record(agent, label if action != "notify" else f"{label} (per node)",
                                w, c)
                    worst = max(worst, w)
            round_times[label] = worst
        if not trace:
            # Pacemaker runs a notify round on all nodes at once: a round lasts as long as its
            # slowest call. Agent time of the whole switchover transition:
            self.record(agent, "switchover: agent time of the transition", sum(round_times.values()),
                        0.0)
        if trace:
            e = self.results["execve"]
            for k in e:
                if k.startswith("notify") and agent in e[k] and "calls" in e[k][agent]:
                    pass
        # Re-point the third node at the new primary and wait until both stream from it.
        self.node_conf(third, new)
        self.reload(third)
        self.primary = new
        self.wait_streaming(new, [old, third])
        self.run(agent, new, "monitor", {"OCF_RESKEY_CRM_meta_interval": "15000"}, expect=8)
        self.run(agent, old, "monitor", {"OCF_RESKEY_CRM_meta_interval": "16000"}, expect=0)

    def actions(self):
        log(f"stop/start of a standby: {self.reps} repetitions per agent")
        for rep in range(self.reps):
            self.stop_start_standby(rep)
        log("stop/start of a standby: one traced pass per agent (process counts)")
        self.stop_start_standby(0, trace=True)
        log(f"switchovers: {self.reps} per agent, alternating")
        for rep in range(self.reps):
            for agent in (("ours", "paf") if rep % 2 == 0 else ("paf", "ours")):
                self.switchover(agent)
        log("switchovers: one traced pass per agent (process counts)")
        for agent in ("ours", "paf"):
            self.switchover(agent, trace=True)
        # per-node notify counts were accumulated as sums of progs: make them per call
        for k, v in self.results["execve"].items():
            for agent, e in v.items():
                if e.get("calls"):
                    e["progs"] = {p: c / e["calls"] for p, c in e["progs"].items()}

    def smoke_test(self, fallback):
        """The first binary (the static build) must run; if it dies of a signal, fall back to
        the second one (the dynamic build) and say so in the results."""
        rc, _, _ = self.run("ours", "node-c", "monitor", {"OCF_RESKEY_CRM_meta_interval": "16000"})
        self.results["binary_used"] = self.agents["ours"]["bin"]
        if rc < 0 and fallback:
            note = (f"{self.agents['ours']['bin']} (static build) was killed by signal {-rc} "
                    f"on its first monitor; measured {fallback} (dynamic build) instead")
            log(note)
            self.results["binary_note"] = note
            self.agents["ours"]["bin"] = fallback
            self.results["binary_used"] = fallback
        elif rc != 0:
            raise Failure(f"smoke test: ours monitor on node-c returned {rc}")

    def baseline(self):
        """Cost of spawning and reaping a trivial static program from this driver."""
        walls = []
        for _ in range(200):
            t0 = time.perf_counter()
            pid = os.posix_spawn("/bin/true", ["/bin/true"], {})
            os.wait4(pid, 0)
            walls.append(time.perf_counter() - t0)
        self.results["baseline_true_median"] = statistics.median(walls)

    def calls_summary(self):
        s = {}
        for name, a in self.agents.items():
            with open(os.path.join(a["attrs"], "calls.log")) as f:
                lines = f.readlines()
            s[name] = {"total": len(lines),
                       "unexpected": [l.strip() for l in lines if "UNEXPECTED" in l][:10]}
        self.results["calls_log"] = s


def main():
    root, ours_bin, repo, out_json = sys.argv[1:5]
    n_monitor = int(os.environ.get("BENCH_MONITOR_CALLS", "200"))
    reps = int(os.environ.get("BENCH_REPS", "5"))
    n_trace = int(os.environ.get("BENCH_TRACE_CALLS", "5"))
    b = Bench(root, ours_bin, repo, n_monitor, reps, n_trace)
    b.results["config"] = {"monitor_calls": n_monitor, "reps": reps, "trace_calls": n_trace,
                           "timeouts_ms": TIMEOUTS}
    rc = 0
    try:
        b.setup()
        b.smoke_test(os.environ.get("BENCH_FALLBACK_BIN"))
        b.baseline()
        t = time.monotonic()
        b.monitors()
        b.results["monitor_phase_seconds"] = time.monotonic() - t
        b.actions()
        b.calls_summary()
    except Exception as e:  # noqa: BLE001 - report and clean up
        log(f"FAILED: {e}")
        b.results["errors"].append(str(e))
        rc = 1
    finally:
        b.teardown()
        with open(out_json, "w") as f:
            json.dump(b.results, f, indent=1)
    sys.exit(rc)


if __name__ == "__main__":
    main()
