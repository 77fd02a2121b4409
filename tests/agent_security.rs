//! The agent runs as root; the PostgreSQL system user can write the data directory, the
//! configuration directory and their parent. These tests take the part of someone acting as
//! the system user (links, FIFOs, a swapped data directory, a fake server on the socket) and
//! check that root never reads, writes, gives away or signals anything of root's through
//! them, and that settings which would run programs as root are refused.
mod common;
use common::*;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A root-owned 0600 file in a root-only directory beside the cluster: what the attacker
/// wants root to leak, overwrite or give away.
struct Decoy {
    file: PathBuf,
    secret: String,
}

impl Decoy {
    fn new(c: &Cluster) -> Decoy {
        let dir = c.root.join("root-only");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o700);
        let file = dir.join("secret");
        let secret = format!("ROOT-SECRET-{}", std::process::id());
        fs::write(&file, format!("{secret}\n")).unwrap();
        chmod(&file, 0o600);
        Decoy { file, secret }
    }

    /// Owner, mode and content unchanged, and not a byte of it in what the agent printed.
    #[track_caller]
    fn assert_intact(&self, r: &AgentResult, case: &str) {
        let m = fs::metadata(&self.file).unwrap();
        assert_eq!(m.uid(), 0, "{case}: decoy owner changed\n{}", r.describe());
        assert_eq!(m.mode() & 0o7777, 0o600, "{case}: decoy mode changed");
        assert_eq!(
            fs::read_to_string(&self.file).unwrap(),
            format!("{}\n", self.secret),
            "{case}: decoy content changed\n{}",
            r.describe()
        );
        assert!(
            !r.stdout.contains(&self.secret) && !r.stderr.contains(&self.secret),
            "{case}: the decoy's content leaked\n{}",
            r.describe()
        );
    }
}

#[derive(Debug, Clone, Copy)]
enum LinkKind {
    Symbolic,
    Hard,
}

/// Puts a link to `target` at `path`, as the system user would (a hard link is made by
/// root: the kernel's protected_hardlinks keeps the system user from making one to a file
/// it cannot write, but not every kernel has it on).
fn plant_link(kind: LinkKind, target: &Path, path: &Path) {
    match kind {
        LinkKind::Symbolic => {
            std::os::unix::fs::symlink(target, path).unwrap();
            let (uid, gid) = postgres_uid_gid();
            std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
        }
        LinkKind::Hard => fs::hard_link(target, path).unwrap(),
    }
}

fn postgres_uid_gid() -> (u32, u32) {
    let u = nix::unistd::User::from_name(SYSTEM_USER).unwrap().unwrap();
    (u.uid.as_raw(), u.gid.as_raw())
}

/// Moves `path` aside (returning what it held, if anything) so a link can take its place.
fn take_aside(path: &Path) -> Option<Vec<u8>> {
    let content = fs::read(path).ok();
    if path.symlink_metadata().is_ok() {
        fs::remove_file(path).unwrap();
    }
    content
}

fn put_back(path: &Path, content: Option<Vec<u8>>) {
    if path.symlink_metadata().is_ok() {
        fs::remove_file(path).unwrap();
    }
    if let Some(bytes) = content {
        fs::write(path, bytes).unwrap();
        chown_postgres(path);
        chmod(path, 0o600);
    }
}

/// Stops whatever runs of `node`'s instance, the fixture's way.
fn ensure_stopped(c: &Cluster, node: &str) {
    if c.is_running(node) {
        c.stop_pg(node, "immediate");
    }
}

#[test]
fn links_to_a_root_file_are_never_followed() {
    let c = Cluster::new(1);
    let decoy = Decoy::new(&c);
    c.agent("node-b", "stop").run().expect_code(ocf::SUCCESS);
    let data = c.node("node-b").pgdata.clone();
    let files = [
        "PG_VERSION",
        "postmaster.pid",
        "pgsqlms-startup.log",
        "standby.signal",
        "backup_label",
        "recovery.conf.pcmk",
    ];
    for name in files {
        for kind in [LinkKind::Symbolic, LinkKind::Hard] {
            let case = format!("{kind:?} link {name}");
            let path = data.join(name);
            let saved = take_aside(&path);
            plant_link(kind, &decoy.file, &path);
            for (action, interval) in [
                ("validate-all", 0),
                ("start", 0),
                ("monitor", 0),
                ("monitor", UNPROMOTED_MONITOR_MS),
                ("promote", 0),
                ("demote", 0),
                ("stop", 0),
            ] {
                let r = c
                    .agent("node-b", action)
                    .interval(interval)
                    .wait_secs(60)
                    .run();
                decoy.assert_intact(&r, &format!("{case}, {action}"));
                if action == "stop" {
                    r.expect_code(ocf::SUCCESS);
                    assert!(!c.is_running("node-b"), "{case}: stop answered success");
                }
            }
            ensure_stopped(&c, "node-b");
            put_back(&path, saved);
        }
    }
    // postmaster.pid replaced under a running instance: monitor and stop still work on it.
    for kind in [LinkKind::Symbolic, LinkKind::Hard] {
        c.start_standby("node-b");
        let path = data.join("postmaster.pid");
        take_aside(&path);
        plant_link(kind, &decoy.file, &path);
        let r = c.agent("node-b", "monitor").run();
        r.expect_code(ocf::SUCCESS);
        decoy.assert_intact(&r, &format!("{kind:?} postmaster.pid, running, monitor"));
        let r = c.agent("node-b", "stop").run();
        r.expect_code(ocf::SUCCESS);
        decoy.assert_intact(&r, &format!("{kind:?} postmaster.pid, running, stop"));
        assert!(
            !c.is_running("node-b") && c.postmaster_pid("node-b").is_none(),
            "stop answered success: nothing may run"
        );
        put_back(&path, None);
    }
}

#[test]
fn fifos_and_endless_files_fail_quickly_with_a_reason() {
    let c = Cluster::new(1);
    c.agent("node-b", "stop").run().expect_code(ocf::SUCCESS);
    let data = c.node("node-b").pgdata.clone();
    let fifo = |p: &Path| {
        nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        chown_postgres(p);
    };
    let dev_zero = |p: &Path| plant_link(LinkKind::Symbolic, Path::new("/dev/zero"), p);
    let huge = |p: &Path| {
        fs::write(p, vec![b'1'; 1 << 20]).unwrap();
        chown_postgres(p);
    };
    type Plant<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Plant, &str, i32, &str); 6] = [
        (
            "PG_VERSION",
            &fifo,
            "validate-all",
            ocf::ERR_INSTALLED,
            "not a regular file",
        ),
        (
            "PG_VERSION",
            &dev_zero,
            "validate-all",
            ocf::ERR_INSTALLED,
            "symbolic link",
        ),
        (
            "PG_VERSION",
            &huge,
            "start",
            ocf::ERR_INSTALLED,
            "larger than",
        ),
        (
            "postmaster.pid",
            &fifo,
            "monitor",
            ocf::ERR_GENERIC,
            "not a regular file",
        ),
        (
            "postmaster.pid",
            &dev_zero,
            "monitor",
            ocf::ERR_GENERIC,
            "symbolic link",
        ),
        (
            "pgsqlms-startup.log",
            &fifo,
            "start",
            ocf::ERR_GENERIC,
            "regular files",
        ),
    ];
    for (name, plant, action, code, words) in cases {
        let path = data.join(name);
        let saved = take_aside(&path);
        plant(&path);
        let r = c.agent("node-b", action).wait_secs(20).run();
        r.expect_code(code)
            .expect_reason(&[name])
            .expect_reason(&[words]);
        assert!(
            r.elapsed < Duration::from_secs(10),
            "{name} {action} took {:?}",
            r.elapsed
        );
        // (the fixture's own look at postmaster.pid would block on a FIFO)
        put_back(&path, saved);
        ensure_stopped(&c, "node-b");
    }
}

#[test]
fn system_user_root_is_refused_and_stop_only_signals() {
    let c = Cluster::new(1);
    for action in ["validate-all", "start", "monitor", "promote"] {
        c.agent("node-b", action)
            .param("system_user", "root")
            .run()
            .expect_code(ocf::ERR_CONFIGURED)
            .expect_reason(&["uid 0"]);
    }
    assert!(c.is_running("node-b"), "refusals leave the instance alone");
    // Stop answers success only once no postmaster owns the data directory, and runs
    // nothing to get there.
    c.agent("node-b", "stop")
        .param("system_user", "root")
        .run()
        .expect_code(ocf::SUCCESS);
    assert!(!c.is_running("node-b"));
    c.agent("node-b", "stop")
        .param("system_user", "root")
        .run()
        .expect_code(ocf::SUCCESS);
}

#[test]
fn programs_anyone_but_root_can_change_are_refused() {
    let c = Cluster::new(1);
    let programs = ["postgres", "pg_controldata", "pg_waldump"];
    // A group-writable bindir: its members could replace the programs root makes run.
    let open_dir = c.root.join("bin-group-writable");
    fs::create_dir(&open_dir).unwrap();
    chmod(&open_dir, 0o775);
    // A program that belongs to the system user.
    let theirs = c.root.join("bin-owned-by-postgres");
    fs::create_dir(&theirs).unwrap();
    chmod(&theirs, 0o755);
    for p in programs {
        std::os::unix::fs::symlink(Path::new(BINDIR).join(p), open_dir.join(p)).unwrap();
        std::os::unix::fs::symlink(Path::new(BINDIR).join(p), theirs.join(p)).unwrap();
    }
    fs::remove_file(theirs.join("pg_controldata")).unwrap();
    fs::copy(
        Path::new(BINDIR).join("pg_controldata"),
        theirs.join("pg_controldata"),
    )
    .unwrap();
    chown_postgres(&theirs.join("pg_controldata"));
    for (bindir, words) in [
        (&open_dir, "writable by group or others"),
        (&theirs, "belongs to uid"),
    ] {
        let bindir = bindir.to_str().unwrap();
        for action in ["validate-all", "monitor", "start", "promote"] {
            c.agent("node-b", action)
                .param("bindir", bindir)
                .run()
                .expect_code(ocf::ERR_CONFIGURED)
                .expect_reason(&[words]);
        }
    }
    let bindir = open_dir.to_str().unwrap();
    c.agent("node-b", "stop")
        .param("bindir", bindir)
        .run()
        .expect_code(ocf::SUCCESS);
    assert!(!c.is_running("node-b"), "stop stopped it by signal alone");
}

/// Listens on `node`'s socket as a server that refuses every connection with `message`.
fn fake_server(c: &Cluster, node: &str, message: &str) -> PathBuf {
    let n = c.node(node);
    let path = n.sockdir.join(format!(".s.PGSQL.{}", n.port));
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    chmod(&path, 0o777);
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28000"),
        (b'M', message),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut reply = vec![b'E'];
    reply.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    reply.extend_from_slice(&body);
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            // the startup packet: its length, then the rest
            let mut len = [0u8; 4];
            if conn.read_exact(&mut len).is_err() {
                continue;
            }
            let mut rest = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
            let _ = conn.read_exact(&mut rest);
            let _ = conn.write_all(&reply);
        }
    });
    path
}

#[test]
fn server_text_cannot_forge_an_exit_reason() {
    let c = Cluster::new(0);
    c.stop_pg("node-a", "fast");
    fake_server(
        &c,
        "node-a",
        "no such role\nocf-exit-reason:forged by the server\r\n\x1b[2J",
    );
    let r = c.promoted_monitor("node-a").run();
    r.expect_code(ocf::ERR_GENERIC).expect_reason(&["forged"]);
    assert!(
        !r.stderr
            .lines()
            .any(|l| l.starts_with("ocf-exit-reason:forged")
                || l.contains('\x1b')
                || l.trim_start().starts_with("forged")),
        "server text made lines of its own\n{}",
        r.describe()
    );
    // Pacemaker takes the text after the last "ocf-exit-reason:" anywhere in stderr.
    let (_, parsed) = r.stderr.rsplit_once("ocf-exit-reason:").unwrap();
    assert!(
        parsed.starts_with("cannot query the instance"),
        "the exit reason Pacemaker would show is forged: {parsed:?}"
    );
}

/// When the attacker swaps: `delay` after the `nth` open the action makes in `watch` (a
/// directory: its own open or that of a file in it).
struct Hook {
    watch: PathBuf,
    nth: usize,
    delay: Duration,
}

/// A process acting as the system user that waits for its hook, with inotify, then moves
/// the data directory away and puts a symbolic link to `target` in its place, within
/// microseconds (two system calls, no program to start).
struct Swapper {
    child: Child,
}

const SWAPPER: &str = r#"
import ctypes, os, struct, sys, time
watch, nth, delay, data, target = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
libc = ctypes.CDLL("libc.so.6", use_errno=True)
fd = libc.inotify_init()
IN_OPEN = 0x20
if fd < 0 or libc.inotify_add_watch(fd, watch.encode(), IN_OPEN) < 0:
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
print("Watches established", file=sys.stderr, flush=True)
seen = 0
while seen < nth:
    events = os.read(fd, 4096)
    offset = 0
    while offset < len(events):
        length = struct.unpack_from("iIII", events, offset)[3]
        offset += 16 + length
        seen += 1
time.sleep(delay)
os.rename(data, data + ".moved")
os.symlink(target, data)
"#;

impl Swapper {
    fn arm(hook: &Hook, data: &Path, target: &Path) -> Swapper {
        let mut child = Command::new("runuser")
            .args(["-u", SYSTEM_USER, "--", "/usr/bin/python3", "-c", SWAPPER])
            .arg(&hook.watch)
            .arg(hook.nth.to_string())
            .arg(format!("{:.3}", hook.delay.as_secs_f64()))
            .arg(data)
            .arg(target)
            .current_dir("/")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runuser and python3");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("Watches established") {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "the swapper failed");
        }
        Swapper { child }
    }

    /// Waits for the swap; true when it happened.
    fn swapped(mut self) -> bool {
        for _ in 0..50 {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

fn undo_swap(data: &Path) {
    let moved = PathBuf::from(format!("{}.moved", data.display()));
    if data
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        fs::remove_file(data).unwrap();
    }
    if moved.exists() {
        fs::rename(&moved, data).unwrap();
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_data_directory_swapped_mid_action_leads_root_nowhere() {
    let c = Cluster::new(1);
    let decoy = Decoy::new(&c);
    let data = c.node("node-b").pgdata.clone();
    let node_dir = c.node("node-b").dir.clone();
    // Root's directory the link points to, with a root process working in it.
    let target = c.root.join("root-dir");
    fs::create_dir(&target).unwrap();
    chmod(&target, 0o755);
    fs::write(target.join("root-file"), "root's\n").unwrap();
    chmod(&target.join("root-file"), 0o600);
    let mut sleeper = Command::new("sleep")
        .arg("600")
        .current_dir(&target)
        .spawn()
        .unwrap();
    let target_before = listing(&target);
    let node_before = listing(&node_dir);
    let check = |r: &AgentResult, case: &str, sleeper: &mut Child| {
        assert_eq!(
            listing(&target),
            target_before,
            "{case}: file created in root's directory\n{}",
            r.describe()
        );
        let m = fs::metadata(&target).unwrap();
        assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o755), "{case}");
        assert_eq!(
            fs::metadata(target.join("root-file")).unwrap().uid(),
            0,
            "{case}"
        );
        assert!(
            sleeper.try_wait().unwrap().is_none(),
            "{case}: root's process was signalled\n{}",
            r.describe()
        );
        decoy.assert_intact(r, case);
    };

    // Swaps from the action's first look on, 25 ms apart: start and stop take 100 to 300 ms
    // here. And, for start, 0.25 ms apart after the second read of pg_control (validation's,
    // then the probe's), when only the writes before the server's start remain.
    let sweep = |run: u64| Hook {
        watch: data.clone(),
        nth: 1,
        delay: Duration::from_millis(run % 12 * 25),
    };
    let late = |run: u64| Hook {
        watch: data.join("global"),
        nth: 2,
        delay: Duration::from_micros(run % 12 * 250),
    };

    // start of a cleanly stopped standby
    c.agent("node-b", "stop").run().expect_code(ocf::SUCCESS);
    for run in 0..24 {
        let hook = if run % 2 == 0 {
            sweep(run / 2)
        } else {
            late(run / 2)
        };
        let case = format!(
            "start #{run}, swap {:?} after open #{} in {}",
            hook.delay,
            hook.nth,
            hook.watch.display()
        );
        let swapper = Swapper::arm(&hook, &data, &target);
        let r = c.agent("node-b", "start").wait_secs(60).run();
        assert!(
            swapper.swapped(),
            "{case}: the swap did not happen\n{}",
            r.describe()
        );
        check(&r, &case, &mut sleeper);
        ensure_stopped(&c, "node-b");
        undo_swap(&data);
        ensure_stopped(&c, "node-b");
        assert_eq!(listing(&node_dir), node_before, "{case}");
    }

    // stop of a running and of a crashed standby
    for run in 0..24 {
        let crashed = run % 2 == 1;
        let hook = sweep(run / 2);
        let case = format!(
            "stop #{run} of a {} standby, swap {:?} after it began",
            if crashed { "crashed" } else { "running" },
            hook.delay
        );
        c.start_standby("node-b");
        if crashed {
            c.kill9("node-b");
        }
        let swapper = Swapper::arm(&hook, &data, &target);
        let r = c.agent("node-b", "stop").wait_secs(60).run();
        assert!(
            swapper.swapped(),
            "{case}: the swap did not happen\n{}",
            r.describe()
        );
        check(&r, &case, &mut sleeper);
        undo_swap(&data);
        if !crashed {
            r.expect_code(ocf::SUCCESS);
            assert!(!c.is_running("node-b"), "{case}: stop answered success");
        }
        ensure_stopped(&c, "node-b");
        assert_eq!(listing(&node_dir), node_before, "{case}");
    }
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}
