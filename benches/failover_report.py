#!/usr/bin/python3
"""Failover/switchover report of benches/failover.sh.

  failover_report.py extract <round dir>
      One round of one agent (what failover.sh saved after `cluster.sh down`: results/<scenario>/
      {fault,writes,result} and nodes/<node>/{pacemaker,corosync}.log): prints, per scenario,
      the timeline of the fault, of what Corosync, the fencer and Pacemaker did, and of the
      writer, in seconds from the fault (TSV, kept in benches/failover-logs/<agent>/r<N>.tsv).

  failover_report.py report <failover-logs dir> <FAILOVER.md> <RESULTS.md>
      FAILOVER.md from the per-agent summaries (<agent>.summary: ROUND lines and the harness's
      `SCENARIO <name>: outage=...` lines), the timelines and run.env, followed by the
      hand-written benches/failover-notes.md; the same text replaces the failover section at
      the end of RESULTS.md (benches/report.py appends FAILOVER.md when it rewrites RESULTS.md).

  failover_report.py report-hung <failover-logs-hung dir> <HUNG.md> <RESULTS.md> <section title>
      The same for the hung-primary runs (FAILOVER_KIND=hung), followed by benches/hung-notes.md,
      in their own section of RESULTS.md.
"""
import calendar
import glob
import os
import re
import statistics
import sys
import time

SECTION = "## Failover and switchover in a real Pacemaker cluster"
AGENTS = [("ours", "ocf_rust_pgsqlms"), ("PAF", "ocf_heartbeat_pgsqlms")]
SCN_RE = re.compile(r"SCENARIO (\S+): outage=(\S+) acked=(\d+) missing=(\d+) result=(\S+)")
ROUND_RE = re.compile(r"ROUND (\d+) (.*)")
LOGTS_RE = re.compile(r"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d)\.(\d+) (\S+) ")
MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}


# ---------------------------------------------------------------------------------------------
# extract
# ---------------------------------------------------------------------------------------------
def log_lines(path, year):
    """(epoch, node, text) of each timestamped line of a Pacemaker or Corosync log (UTC)."""
    if not os.path.exists(path):
        return
    with open(path, errors="replace") as f:
        for line in f:
            m = LOGTS_RE.match(line)
            if not m:
                continue
            mon, day, hh, mi, ss, frac, node = m.groups()
            t = calendar.timegm((year, MONTHS[mon], int(day), int(hh), int(mi), int(ss), 0, 0, 0))
            yield t + float("0." + frac), node, line[m.end():].rstrip("\n")


def op_group(key):
    """Step name of an operation key: pgsqld_pre_notify_promote_0 -> 'notify pre-promote',
    pgsqld_promote_0 -> 'promote', pgsql-vip_start_0 -> 'VIP start'; None for what is not a
    step of the recovery (monitors, cancels, probes, fencing device)."""
    m = re.match(r"pgsqld_(pre|post)_notify_(\w+)_0$", key)
    if m:
        return f"notify {m[1]}-{m[2]}"
    m = re.match(r"pgsqld_(start|stop|promote|demote)_0$", key)
    if m:
        return m[1]
    m = re.match(r"pgsql-vip_(start|stop)_0$", key)
    if m:
        return f"VIP {m[1]}"
    return None


def extract(rdir):
    out = []
    for fault_file in sorted(glob.glob(os.path.join(rdir, "results", "*", "fault"))):
        sdir = os.path.dirname(fault_file)
        scn = os.path.basename(sdir)
        with open(fault_file) as f:
            ft, _, desc = f.read().strip().partition(" ")
        F = float(ft)
        year = time.gmtime(F).tm_year
        row = lambda *a: out.append("\t".join([scn] + [str(x) for x in a]))
        off = lambda t: f"{t - F:.3f}"
        row("fault", "0.000", desc)
        res = ""
        if os.path.exists(os.path.join(sdir, "result")):
            res = open(os.path.join(sdir, "result")).readline().strip()
        row("result", res)
        # Writer: every attempt "<start> <end> <id> ok|fail [<xid>]"; the outage is the longest gap
        # without an acknowledged write counted from the fault (as tests/cluster computes it).
        writes = []
        if os.path.exists(os.path.join(sdir, "writes")):
            for line in open(os.path.join(sdir, "writes")):
                p = line.split()
                if len(p) >= 4:
                    writes.append((float(p[0]), float(p[1]), p[3]))
        acks = sorted(w[1] for w in writes if w[2] == "ok" and w[1] >= F)
        prev, gap, gap_end = F, -1.0, None
        for a in acks:
            if a - prev > gap:
                gap, gap_end = a - prev, a
            prev = a
        before = [w[1] for w in writes if w[2] == "ok" and w[1] < F]
        if before:
            row("event", "writer", "-", off(max(before)), "last acknowledged write before the fault")
        if gap_end is not None:
            start = max([F] + [a for a in acks if a < gap_end])
            row("event", "writer", "-", off(start), "outage starts (last acknowledged write)")
            row("event", "writer", "-", off(gap_end), "first acknowledged write ending the outage")
            fails = [w for w in writes if w[2] == "fail" and start <= w[0] <= gap_end]
            row("event", "writer", "-", str(len(fails)), "failed attempts during the outage")
            last_try = max([w[0] for w in writes if w[0] < gap_end and w[1] >= gap_end] or [gap_end])
            row("event", "writer", "-", off(last_try), "start of the attempt that succeeded")
        # Writes flowing again: the first acknowledged write after the fault after which no
        # attempt failed until the writer stopped (a lone write acknowledged in the middle of
        # a recovery does not count).
        att = sorted(writes)
        last_fail = max([w[0] for w in att if w[2] == "fail"] or [F])
        back = [w[1] for w in att if w[2] == "ok" and w[0] >= last_fail and w[1] >= F]
        if back:
            row("event", "writer", "-", off(min(back)), "writes flowing again (no failure after it)")
            first_fail = min([w[0] for w in att if w[2] == "fail" and w[0] >= F] or [min(back)])
            row("event", "writer", "-", off(max([F] + [w[1] for w in att if w[2] == "ok" and w[1] <= first_fail])),
                "interruption starts (last acknowledged write before the first failure)")
        hi = (gap_end or F + 30) + 1.0
        lo = F - 0.5
        # Pacemaker: operations the DC initiated and their confirmations, point events.
        pend = {}
        seen = set()
        nodes = sorted(glob.glob(os.path.join(rdir, "nodes", "*")))
        lines = []
        for nd in nodes:
            n = os.path.basename(nd)
            lines += [(t, n, "pcmk", x) for t, _, x in log_lines(os.path.join(nd, "pacemaker.log"), year)]
            lines += [(t, n, "corosync", x) for t, _, x in log_lines(os.path.join(nd, "corosync.log"), year)]
        lines.sort(key=lambda x: x[0])

        def first(name, node, t, what):
            if name not in seen:
                seen.add(name)
                row("event", name, node, off(t), what)

        for t, node, src, x in lines:
            if t < lo or t > hi:
                continue
            if src == "corosync":
                if "A processor failed, forming new configuration" in x:
                    first("corosync token lost", node, t, "token timed out, waiting for consensus")
                elif "A new membership" in x and "was formed" in x and "left" in x:
                    first("corosync membership", node, t, "new membership without the lost node")
                continue
            m = re.search(r"Initiating (\w+) operation (\S+) (?:locally )?on (\S+) \| action (\d+)", x)
            if m:
                g = op_group(m[2])
                if g:
                    pend[(m[4], m[3])] = (t, g)
                continue
            m = re.search(r"Transition (\d+) action (\d+) \((\S+) on (\S+)\)(?: confirmed|: expected)", x)
            if m and (m[2], m[4]) in pend:
                t0, g = pend.pop((m[2], m[4]))
                row("op", g, m[4], off(t0), off(t), "failed" if "expected" in x else "ok")
                continue
            # a recurring monitor (not a probe) with an unexpected result
            m = re.search(r"Result of monitor operation for pgsqld on (\S+): (.*?) \|.*key=pgsqld_monitor_[1-9]", x)
            if m and t >= F and m[2] not in ("ok", "promoted", "Cancelled"):
                first("monitor failure", m[1], t, "monitor reports: " + m[2][:60])
                continue
            if "Taking over DC status" in x and t >= F:
                first("new DC", node, t, "a new DC takes over (the lost node was the DC)")
            elif "aborted by rsc_location.cli-prefer" in x and t >= F:
                first("move noticed", node, t, "transition aborted by the move constraint")
            elif "Requesting fencing" in x:
                first("fencing requested", node, t, "DC asks the fencer")
            elif re.search(r"Peer \S+ was terminated .*: OK", x):
                first("fencing done", node, t, "fencing confirmed to the DC")
            elif "Calculated transition" in x and t >= F:
                first("first transition", node, t, "scheduler computed the first transition after the fault")
        for (a, n), (t0, g) in pend.items():
            row("op", g, n, off(t0), "", "unconfirmed")
    return out


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
def read_summary(path):
    """{scenario: [(round, outage|None, missing, result)]}, {round: info}."""
    data, rounds, r = {}, {}, None
    if not os.path.exists(path):
        return data, rounds
    for line in open(path):
        m = ROUND_RE.match(line)
        if m:
            r = int(m[1])
            rounds[r] = dict(kv.split("=", 1) for kv in m[2].split() if "=" in kv)
            continue
        m = SCN_RE.match(line)
        if m:
            data.setdefault(m[1], []).append(
                (r, None if m[2] == "NA" else float(m[2]), int(m[4]), m[5]))
    return data, rounds


def read_timeline(path):
    """{scenario: {"events": {name: offset}, "ops": [(group, node, start, end, status)]}}"""
    tl = {}
    if not os.path.exists(path):
        return tl
    for line in open(path):
        p = line.rstrip("\n").split("\t")
        d = tl.setdefault(p[0], {"events": {}, "ops": [], "writer": {}})
        if p[1] == "event" and p[2] == "writer":
            d["writer"][p[5]] = float(p[4])
        elif p[1] == "event":
            d["events"][p[2]] = float(p[4])
        elif p[1] == "op":
            d["ops"].append((p[2], p[3], float(p[4]), float(p[5]) if p[5] else None, p[6]))
    return tl


def steps(scn, d):
    """Consecutive segments from the fault to the first acknowledged write of one run:
    [(label, seconds)], from real timestamps; their sum is the measured outage."""
    ev, w = d["events"], d["writer"]
    end = w.get("writes flowing again (no failure after it)",
                w.get("first acknowledged write ending the outage"))
    if end is None:
        return None
    marks = [("fault", 0.0)]
    if scn == "kill-postmaster":
        marks.append(("detection (monitor reports the crash)", ev.get("monitor failure")))
    elif scn.startswith("hung-"):
        marks.append(("detection (monitor reports the hang, or times out)", ev.get("monitor failure")))
        # the failed demote and stop on the hung node lead to the fencing request
        marks.append(("demote and stop of the hung primary fail, fencing requested",
                      ev.get("fencing requested")))
        marks.append(("fencing (fence_sandbox: SIGKILL, port down)", ev.get("fencing done")))
    elif scn == "switchover":
        marks.append(("crm_resource --move to Pacemaker's abort", ev.get("move noticed")))
    else:
        marks.append(("Corosync: token timeout (fault to 'A processor failed')", ev.get("corosync token lost")))
        marks.append(("Corosync: consensus, new membership", ev.get("corosync membership")))
        # (about 1 s longer in some runs of both agents: Pacemaker idles ~1 s before running
        # the scheduler, e.g. after a new DC took over when the lost node was the DC)
        marks.append(("Pacemaker: reaction to the membership change, scheduling, fencing requested",
                      ev.get("fencing requested")))
        marks.append(("fencing (fence_sandbox: SIGKILL, port down)", ev.get("fencing done")))
    marks = [(l, t) for l, t in marks if t is not None]
    # Pacemaker's operations up to the write, a notify round counted as one unit (its first
    # start to its last end). The critical path is found backwards from the write: each unit's
    # predecessor is the unit that ended last before it started (Pacemaker starts an action
    # as soon as what it waits for is confirmed). Units off that path (the VIP stop, run in
    # parallel with a notify round) are left out.
    units = {}
    for g, n, st, e, _ in d["ops"]:
        if e is None or e > end + 0.001:
            continue
        u = units.setdefault(g, [st, e])
        u[0], u[1] = min(u[0], st), max(u[1], e)
    chain, t = [], end
    while True:
        c = [(e, s, g) for g, (s, e) in units.items() if e <= t + 0.002 and (g, s, e) not in chain]
        if not c:
            break
        e, s, g = max(c)
        if chain and e < marks[-1][1] - 0.002:
            break
        chain.append((g, s, e))
        t = s
        if s <= marks[-1][1]:
            break
    chain.reverse()
    seg, prev_t = [], 0.0
    for l, t in marks[1:]:
        seg.append((l, t - prev_t))
        prev_t = t
    for g, s, e in chain:
        if e <= prev_t:
            continue
        if s > prev_t + 0.001:
            seg.append(("Pacemaker between steps (scheduling, IPC)", s - prev_t))
            prev_t = s
        seg.append((g, e - prev_t))
        prev_t = e
    seg.append(("writer: to the first acknowledged write (reconnect)", end - prev_t))
    return seg


def is_agent_op(label):
    return label.startswith("notify ") or label in ("demote", "stop", "start", "promote")


def merge_order(seqs, pos):
    """One row order for the segments of all runs: each run's order is kept where the runs
    agree (topological merge, ties and conflicts by median position); the Pacemaker gaps
    and the writer come last."""
    tail = ["Pacemaker between steps (scheduling, IPC)",
            "writer: to the first acknowledged write (reconnect)"]
    labels = [l for l in pos if l not in tail]
    before = {l: set() for l in labels}
    for q in seqs:
        q = [l for l in q if l in before]
        for i, l in enumerate(q):
            before[l].update(x for x in q[:i] if x != l)
    order, left = [], set(labels)
    while left:
        ready = [l for l in left if not (before[l] & left)] or list(left)
        nxt = min(ready, key=lambda l: med(pos[l]))
        order.append(nxt)
        left.remove(nxt)
    return order + [l for l in tail if l in pos]


def fmt_runs(rs):
    return " / ".join(("NA" if o is None else f"{o:.1f}") + ("" if r == "PASS" else " (FAIL)")
                      for _, o, _, r in rs) or "-"


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def s1(x, unit=" s"):
    return "-" if x is None else f"{x:.1f}{unit}"


def replace_section(text, section, new):
    """`text` with its level-2 section titled `section` (up to the next level-2 heading)
    replaced by `new`, or `new` appended when it has none."""
    i = text.find(section)
    if i < 0:
        return text.rstrip() + "\n\n" + new
    j = text.find("\n## ", i + len(section))
    rest = "" if j < 0 else "\n" + text[j + 1:]
    return text[:i].rstrip() + "\n\n" + new + rest


def report(logs, out, res, section=SECTION, notes_file="failover-notes.md"):
    env = {}
    p = os.path.join(logs, "run.env")
    if os.path.exists(p):
        for line in open(p):
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v
    data, rounds, tls = {}, {}, {}
    for name, tag in AGENTS:
        data[name], rounds[name] = read_summary(os.path.join(logs, tag + ".summary"))
        tls[name] = {}
        for f in sorted(glob.glob(os.path.join(logs, tag, "r*.tsv"))):
            tls[name][int(re.search(r"r(\d+)\.tsv$", f)[1])] = read_timeline(f)
    scns = env.get("scenarios", "kill-postmaster switchover kill-primary-node").split()
    g = env.get
    L = [f"{section} (benches/failover.sh)", "",
         f"Generated by `benches/failover_report.py` from `benches/{os.path.basename(os.path.normpath(logs))}/` (the per-round",
         "summaries and the timelines extracted from the nodes' Pacemaker and Corosync logs);",
         f"the hand-written text at the end is benches/{notes_file}.", "",
         f"- Command: `{g('command', 'benches/failover.sh')}` (as root, from the repository root)",
         f"- Run: {g('started', '?')} to {g('finished', '?')} ({g('duration', '?')})",
         f"- Machine: {g('machine', '?')}",
         f"- Cluster: tests/cluster/cluster.sh namespace sandbox, 3 nodes, {g('pacemaker', '?')},",
         f"  {g('corosync', '?')} (knet), TOKEN_MS={g('token_ms', '?')}, fencing (fence_sandbox),",
         f"  IPaddr2 VIP ({g('resource_agents', '?')}), {g('postgresql', '?')}",
         f"- Agents: ours {g('ours', '?')}; PAF {g('paf', '?')}",
         "- Same CIB for both (pcs-examples/cluster.crm), only the agent differs: monitor 5 s",
         "  promoted / 6 s unpromoted (timeout 10 s), start/stop 60 s, promote 30 s, demote",
         "  120 s, notify 60 s, stickiness 10, migration-threshold 3, stonith-timeout 40 s.",
         f"- Rounds: {g('reps', '?')} per agent, each on a freshly built cluster (up, a random pause of",
         f"  0-5 s so that the crash falls anywhere in the primary's 5 s monitor interval, the",
         f"  scenarios in the order {', '.join(scns)}, down); the agents alternate round by round",
         "  (ours first in odd rounds, PAF first in even ones). The load average at the start of",
         "  each round is listed below.", "",
         "Writes: the harness's writer (client namespace, one persistent session through the VIP,",
         "one row per transaction, reconnecting after a failure; a row counts when its id comes",
         "back). Median over the passing runs; every run listed in round order.", "",
         "**Fault to the first write acknowledged by the new primary** (the issue's measure): from",
         "the fault (kill -9, `crm_resource --move`, power-off) to the first acknowledged write",
         "after which no write attempt failed. After a switchover's move command the old primary",
         "still takes writes until its demote; a lone write acknowledged in the middle of a",
         "recovery (PAF's pre-demote notify restarts a crashed primary as a writable instance",
         "before demoting it) does not count.", "",
         "| Scenario | Ours: runs (s) | Ours median | PAF: runs (s) | PAF median | Ours / PAF | target ≤ 1/2 | lost acked rows (ours/PAF) |",
         "|---|---|---|---|---|---|---|---|"]

    def per_run(name, s, f):
        passed = {r for r, _, _, st in data[name].get(s, []) if st == "PASS"}
        v = []
        for r, tl in sorted(tls[name].items()):
            x = f(tl.get(s, {}).get("writer", {}))
            if r in passed and x is not None:
                v.append(x)
        return v
    for s in scns:
        c, m = [], {}
        for name, _ in AGENTS:
            v = per_run(name, s, lambda w: w.get("writes flowing again (no failure after it)"))
            m[name] = med(v)
            c += [" / ".join(f"{x:.1f}" for x in v) or "-", s1(m[name])]
        ratio = f"{m['ours'] / m['PAF']:.2f}" if m["ours"] is not None and m["PAF"] else "-"
        verdict = "-" if ratio == "-" else ("**met**" if m["ours"] <= m["PAF"] / 2 else "**missed**")
        lost = "/".join(str(sum(x[2] for x in data[name].get(s, []))) for name, _ in AGENTS)
        L.append(f"| {s} | {c[0]} | {c[1]} | {c[2]} | {c[3]} | {ratio} | {verdict} | {lost} |")
    L += ["", "**Longest gap without an acknowledged write after the fault** (the harness's `outage`,",
          "`SCENARIO ... outage=`): for a switchover it starts when the old primary stops taking",
          "writes, not at the move command; PAF's lone write during a crash recovery splits it.", "",
          "| Scenario | Ours: runs (s) | Ours median | PAF: runs (s) | PAF median | Ours / PAF |",
          "|---|---|---|---|---|---|"]
    for s in scns:
        o, pf = data["ours"].get(s, []), data["PAF"].get(s, [])
        mo = med([x[1] for x in o if x[3] == "PASS"])
        mp = med([x[1] for x in pf if x[3] == "PASS"])
        ratio = f"{mo / mp:.2f}" if mo is not None and mp else "-"
        L.append(f"| {s} | {fmt_runs(o)} | {s1(mo)} | {fmt_runs(pf)} | {s1(mp)} | {ratio} |")
    L += ["", "**Fault to the cluster's last step before that write** (the end of the VIP start, or of",
          "the promote when the VIP stays on the node): the same, without the writer's reconnect",
          "(see the step tables: the client's TCP/ARP retries after the VIP moved).", "",
          "| Scenario | Ours median (min-max) | PAF median (min-max) | Ours / PAF |", "|---|---|---|---|"]
    for s in scns:
        c, m = [], {}
        for name, _ in AGENTS:
            passed = {r for r, _, _, st in data[name].get(s, []) if st == "PASS"}
            v = []
            for r, tl in sorted(tls[name].items()):
                sg = steps(s, tl[s]) if s in tl and r in passed else None
                if sg:
                    v.append(sum(x for l, x in sg if not l.startswith("writer")))
            m[name] = med(v)
            c.append("-" if not v else f"{med(v):.2f} s ({min(v):.2f}-{max(v):.2f})")
        ratio = f"{m['ours'] / m['PAF']:.2f}" if m["ours"] is not None and m["PAF"] else "-"
        L.append(f"| {s} | {c[0]} | {c[1]} | {ratio} |")
    L += ["", "Passing runs: " + "; ".join(
        f"{s} ours {sum(x[3] == 'PASS' for x in data['ours'].get(s, []))}/"
        f"{len(data['ours'].get(s, []))}, PAF {sum(x[3] == 'PASS' for x in data['PAF'].get(s, []))}/"
        f"{len(data['PAF'].get(s, []))}" for s in scns) + ".", ""]
    L += ["Rounds (start time UTC, load average 1/5/15 min at the start, the random pause before",
          "the first fault, duration of the round including bring-up and teardown):", "",
          "| Round | Ours | PAF |", "|---|---|---|"]
    for r in sorted(set(rounds["ours"]) | set(rounds["PAF"])):
        c = []
        for name, _ in AGENTS:
            i = rounds[name].get(r)
            st = i.get("status", "ok") if i else ""
            c.append("-" if not i else
                     f"{i.get('start', '?')}, load {i.get('load', '?').replace(',', ' ')}, "
                     f"pause {i.get('pause', '-')} s, {i.get('seconds', '?')} s"
                     + ("" if st == "ok" else f", **{st}**"))
        L.append(f"| {r} | {c[0]} | {c[1]} |")
    L += ["", "### Step by step (medians of the per-run segments, from the logs' timestamps)", "",
          "Each run, from the fault to the first write acknowledged by the new primary (first",
          "table), is cut into consecutive segments at real timestamps: the fault (harness), the",
          "failed monitor (kill-postmaster), Corosync's `A processor failed` and `A new membership`",
          "(survivors' corosync.log), the DC's fencing request and its confirmation, then each",
          "operation on the critical path from its `Initiating` to its confirmation in the DC's",
          "pacemaker.log (a notify round: first `Initiating` to last confirmation), and the",
          "writer's first acknowledged write. A segment starts where the previous one ended, so",
          "the segments of one run add up to that run's time; operations that ran in parallel",
          "with a longer one (the VIP stop during a notify round) do not appear. Medians of the",
          "segments do not add up exactly to the median time. A step that occurred in some runs",
          "only has its median over those runs (\"k of n runs\"); `-`: it occurred in none of",
          "that agent's runs (before the first write).", ""]
    for s in scns:
        runs = {}   # agent -> [(segments, outage start)]
        for name, _ in AGENTS:
            runs[name] = []
            for _, tl in sorted(tls[name].items()):
                sg = steps(s, tl[s]) if s in tl else None
                if sg is not None:
                    runs[name].append((sg, tl[s]["writer"].get("outage starts (last acknowledged write)", 0.0)))
        if not any(runs.values()):
            continue
        # Rows in the order the steps occur (median position from the fault), writer last.
        pos = {}
        for name, _ in AGENTS:
            for sg, _ in runs[name]:
                t = 0.0
                for l, v in sg:
                    t += v
                    pos.setdefault(l, []).append(t)
        order = merge_order([[l for l, _ in sg] for name, _ in AGENTS for sg, _ in runs[name]], pos)
        L += [f"**{s}** (ours {len(runs['ours'])} runs, PAF {len(runs['PAF'])} runs; seconds)", "",
              "| Segment | Ours median (min-max) | PAF median (min-max) | Ours − PAF |",
              "|---|---|---|---|"]

        def line(label, per_run, bold=False):
            c, m = [], {}
            for name, _ in AGENTS:
                v = [f(sg, os_) for sg, os_ in runs[name] for f in [per_run]]
                v = [x for x in v if x is not None]
                m[name] = med(v)
                c.append("-" if not v else f"{med(v):.2f} ({min(v):.2f}-{max(v):.2f})")
            diff = "-" if None in m.values() else f"{m['ours'] - m['PAF']:+.2f}"
            lab = f"**{label}**" if bold else label
            L.append(f"| {lab} | {c[0]} | {c[1]} | {diff} |")
            return m

        def seg_of(label):
            # a run without this step: 0 if the other runs of the agent have it, else absent
            return lambda sg, _: sum(v for l, v in sg if l == label)
        for l in order:
            c, m = [], {}
            for name, _ in AGENTS:
                # only the runs where the step occurred (k of n noted when not all did)
                v = [seg_of(l)(sg, o) for sg, o in runs[name] if l in [x for x, _ in sg]]
                m[name] = med(v)
                k = "" if len(v) == len(runs[name]) else f", {len(v)} of {len(runs[name])} runs"
                c.append("-" if not v else f"{med(v):.2f} ({min(v):.2f}-{max(v):.2f}{k})")
            diff = f"{(m['ours'] or 0) - (m['PAF'] or 0):+.2f}"
            L.append(f"| {l} | {c[0]} | {c[1]} | {diff} |")
        line("fault to the first write acknowledged by the new primary", lambda sg, _: sum(v for _, v in sg), True)
        line("of which the agent's operations (notify rounds, demote, stop, start, promote)",
             lambda sg, _: sum(v for l, v in sg if is_agent_op(l)))
        line("of which the rest (detection, Corosync, Pacemaker, fencing, VIP, writer)",
             lambda sg, _: sum(v for l, v in sg if not is_agent_op(l)))
        L.append("")
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), notes_file)
    text = "\n".join(L) + "\n"
    if os.path.exists(notes):
        text += "\n" + open(notes).read()
    with open(out, "w") as f:
        f.write(text)
    print(text)
    if os.path.exists(res):
        t = replace_section(open(res).read(), section, text)
        with open(res, "w") as f:
            f.write(t)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "extract":
        print("\n".join(extract(sys.argv[2])))
    elif len(sys.argv) == 5 and sys.argv[1] == "report":
        report(*sys.argv[2:5])
    elif len(sys.argv) == 6 and sys.argv[1] == "report-hung":
        report(*sys.argv[2:5], section=sys.argv[5], notes_file="hung-notes.md")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
