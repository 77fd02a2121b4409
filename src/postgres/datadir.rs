//! The data directory as root may look at it. The system user can write the data directory
//! and, on Debian and RHEL, its parent: any path under them may be swapped for a link at any
//! moment. So root resolves the path once per action into a directory descriptor, without
//! following a link the system user could have planted, checks that the system user owns
//! it, and from then on reaches files and processes only through that descriptor: a file by
//! name relative to it (never following a link, regular files owned by the system user
//! only, bounded in size), a process by the device and inode of its working directory.
//! Everything that writes there is done by the system user itself (see `instance.rs`).

use crate::ocf::log::brief;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::unistd::Uid;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed while resolving one path, as the kernel allows.
const MAX_LINKS: usize = 40;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DataDirError {
    #[error("datadir {} does not exist", brief(.0.display()))]
    Missing(PathBuf),
    #[error("datadir {} is not an absolute path", brief(.0.display()))]
    Relative(PathBuf),
    /// (`path` is in the log line that reports it)
    #[error("datadir goes through the link {}", brief(link.display()))]
    UntrustedLink { path: PathBuf, link: PathBuf },
    #[error("datadir {} is not a directory", brief(.0.display()))]
    NotDirectory(PathBuf),
    /// (`expected`, the system user's uid, is in the log line that reports it)
    #[error("datadir {} is owned by uid {uid}", brief(path.display()))]
    WrongOwner {
        path: PathBuf,
        uid: u32,
        expected: u32,
    },
    #[error("datadir {} is owned by root", brief(.0.display()))]
    RootOwned(PathBuf),
    #[error("datadir {} has too many symbolic links", brief(.0.display()))]
    LinkLoop(PathBuf),
    #[error("datadir {}: {errno}", brief(path.display()))]
    Os { path: PathBuf, errno: Errno },
}

/// Why a file in the data directory was not read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum UnsafeFile {
    #[error("datadir's {} is a symbolic link", brief(.0))]
    Link(String),
    #[error("datadir's {} is not a regular file", brief(.0))]
    NotRegular(String),
    #[error("datadir's {} is owned by uid {uid}", brief(name))]
    WrongOwner { name: String, uid: u32 },
    #[error("datadir's {} is larger than {limit} bytes", brief(name))]
    TooLarge { name: String, limit: u64 },
    #[error("cannot read datadir's {}: {errno}", brief(name))]
    Os { name: String, errno: Errno },
}

/// The data directory, opened once for the action.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    fd: OwnedFd,
    dev: u64,
    ino: u64,
    owner: Uid,
}

impl DataDir {
    /// Opens `path`, which must belong to `owner`, or, when the system user is not known
    /// (a stop on a broken configuration), to any user but root.
    pub fn open(path: &Path, owner: Option<Uid>) -> Result<DataDir, DataDirError> {
        let fd = open_directory(path)?;
        let st = fstat(fd.as_raw_fd()).map_err(|errno| DataDirError::Os {
            path: path.to_path_buf(),
            errno,
        })?;
        let found = Uid::from_raw(st.st_uid);
        match owner {
            Some(expected) if expected != found => {
                return Err(DataDirError::WrongOwner {
                    path: path.to_path_buf(),
                    uid: st.st_uid,
                    expected: expected.as_raw(),
                })
            }
            None if found.is_root() => return Err(DataDirError::RootOwned(path.to_path_buf())),
            _ => {}
        }
        Ok(DataDir {
            path: path.to_path_buf(),
            fd,
            dev: st.st_dev,
            ino: st.st_ino,
            owner: found,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn owner(&self) -> Uid {
        self.owner
    }

    /// The descriptor, for a child that works in the directory as the system user.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// True when the directory holds an entry `name`, whatever its type (a link is not
    /// followed).
    pub fn has_entry(&self, name: &str) -> bool {
        self.lstat(name).is_some()
    }

    /// True when `name` is a regular file (not a link to one).
    pub fn has_regular_file(&self, name: &str) -> bool {
        self.lstat(name)
            .is_some_and(|st| is_kind(&st, SFlag::S_IFREG))
    }

    fn lstat(&self, name: &str) -> Option<FileStat> {
        fstatat(
            Some(self.raw_fd()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok()
    }

    /// The content of `name`, at most `limit` bytes, or `None` when there is no such file.
    pub fn read(&self, name: &str, limit: u64) -> Result<Option<String>, UnsafeFile> {
        let Some((mut file, size)) = self.open_file(name)? else {
            return Ok(None);
        };
        if size > limit {
            return Err(UnsafeFile::TooLarge {
                name: name.into(),
                limit,
            });
        }
        let mut bytes = Vec::new();
        // The file may grow after fstat: never read past the limit.
        (&mut file)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| os_error(name, e))?;
        if bytes.len() as u64 > limit {
            return Err(UnsafeFile::TooLarge {
                name: name.into(),
                limit,
            });
        }
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The last `bytes` bytes of `name` (a log the server appends to), or `None`.
    pub fn tail(&self, name: &str, bytes: u64) -> Result<Option<String>, UnsafeFile> {
        let Some((mut file, size)) = self.open_file(name)? else {
            return Ok(None);
        };
        let mut text = Vec::new();
        file.seek(SeekFrom::Start(size.saturating_sub(bytes)))
            .and_then(|_| file.take(bytes).read_to_end(&mut text))
            .map_err(|e| os_error(name, e))?;
        Ok(Some(String::from_utf8_lossy(&text).into_owned()))
    }

    /// Opens `name` for reading if it is a regular file of the owner: never through a
    /// link, and without blocking on a FIFO.
    fn open_file(&self, name: &str) -> Result<Option<(File, u64)>, UnsafeFile> {
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let fd = match openat(Some(self.raw_fd()), name, flags, Mode::empty()) {
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
            Err(Errno::ENOENT) => return Ok(None),
            Err(Errno::ELOOP) => return Err(UnsafeFile::Link(name.into())),
            Err(errno) => {
                return Err(UnsafeFile::Os {
                    name: name.into(),
                    errno,
                })
            }
        };
        let st = fstat(fd.as_raw_fd()).map_err(|errno| UnsafeFile::Os {
            name: name.into(),
            errno,
        })?;
        if !is_kind(&st, SFlag::S_IFREG) {
            return Err(UnsafeFile::NotRegular(name.into()));
        }
        // A hard link to another user's file is the same inode: its owner gives it away.
        if st.st_uid != self.owner.as_raw() {
            return Err(UnsafeFile::WrongOwner {
                name: name.into(),
                uid: st.st_uid,
            });
        }
        Ok(Some((File::from(fd), st.st_size.max(0) as u64)))
    }

    /// True when `pid`'s working directory is this directory (the very inode, whatever
    /// path leads to it now).
    pub fn is_cwd_of(&self, pid: i32) -> bool {
        nix::sys::stat::stat(format!("/proc/{pid}/cwd").as_str())
            .is_ok_and(|st| st.st_dev == self.dev && st.st_ino == self.ino)
    }
}

fn os_error(name: &str, e: std::io::Error) -> UnsafeFile {
    UnsafeFile::Os {
        name: name.into(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    }
}

/// Resolves `path` component by component without following a symbolic link that anyone
/// but root could replace: a link is followed only when root owns it and the directory
/// holding it is writable by root alone (or sticky), as `/var/run -> /run` is.
fn open_directory(path: &Path) -> Result<OwnedFd, DataDirError> {
    if !path.is_absolute() {
        return Err(DataDirError::Relative(path.to_path_buf()));
    }
    let os = |errno| DataDirError::Os {
        path: path.to_path_buf(),
        errno,
    };
    let open_dir = |at: Option<RawFd>, name: &Path| {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        openat(at, name, flags, Mode::empty()).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let root = Path::new("/");
    let mut dir = open_dir(None, root).map_err(os)?;
    let mut pending: VecDeque<OsString> = components(path);
    let mut walked = PathBuf::from("/");
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        let here = walked.join(&name);
        match open_dir(Some(dir.as_raw_fd()), Path::new(&name)) {
            Ok(next) => {
                dir = next;
                walked = here;
            }
            Err(Errno::ENOENT) => return Err(DataDirError::Missing(here)),
            Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                let st = fstatat(
                    Some(dir.as_raw_fd()),
                    Path::new(&name),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(os)?;
                if !is_kind(&st, SFlag::S_IFLNK) {
                    return Err(DataDirError::NotDirectory(here));
                }
                let parent = fstat(dir.as_raw_fd()).map_err(os)?;
                if st.st_uid != 0 || !only_root_writes(&parent) {
                    return Err(DataDirError::UntrustedLink {
                        path: path.to_path_buf(),
                        link: here,
                    });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(DataDirError::LinkLoop(path.to_path_buf()));
                }
                let target =
                    PathBuf::from(readlinkat(Some(dir.as_raw_fd()), Path::new(&name)).map_err(os)?);
                for c in components(&target).into_iter().rev() {
                    pending.push_front(c);
                }
                if target.is_absolute() {
                    dir = open_dir(None, root).map_err(os)?;
                    walked = PathBuf::from("/");
                }
            }
            Err(errno) => return Err(os(errno)),
        }
    }
    Ok(dir)
}

/// The names to walk: `.` dropped, `..` kept (opened as an entry, never a link).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// True when `st` is of file type `kind` (`S_IFREG`, `S_IFLNK`, ...).
pub fn is_kind(st: &FileStat, kind: SFlag) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == kind
}

/// A directory whose entries only root can replace.
fn only_root_writes(st: &FileStat) -> bool {
    let sticky = st.st_mode & nix::libc::S_ISVTX != 0;
    st.st_uid == 0 && (st.st_mode & 0o022 == 0 || sticky)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// A directory tree under a root-only temporary directory (these tests run as root,
    /// like the agent).
    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/data")).unwrap();
        std::fs::write(t.path().join("a/data/PG_VERSION"), "15\n").unwrap();
        t
    }

    fn me() -> Option<Uid> {
        Some(Uid::effective())
    }

    #[test]
    fn opens_a_plain_directory_and_reads_its_files() {
        let t = tree();
        let d = DataDir::open(&t.path().join("a/data"), me()).unwrap();
        assert_eq!(d.read("PG_VERSION", 64).unwrap().as_deref(), Some("15\n"));
        assert_eq!(d.read("absent", 64).unwrap(), None);
        assert!(d.has_regular_file("PG_VERSION"));
        assert!(!d.has_entry("absent"));
    }

    #[test]
    fn reads_are_bounded() {
        let t = tree();
        std::fs::write(t.path().join("a/data/big"), vec![b'x'; 100]).unwrap();
        let d = DataDir::open(&t.path().join("a/data"), me()).unwrap();
        assert!(matches!(
            d.read("big", 99),
            Err(UnsafeFile::TooLarge { .. })
        ));
        assert_eq!(d.read("big", 100).unwrap().unwrap().len(), 100);
        assert_eq!(d.tail("big", 10).unwrap().unwrap(), "x".repeat(10));
    }

    #[test]
    fn never_reads_through_a_link_or_a_fifo() {
        let t = tree();
        let data = t.path().join("a/data");
        symlink("/etc/hostname", data.join("link")).unwrap();
        nix::unistd::mkfifo(&data.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        let d = DataDir::open(&data, me()).unwrap();
        assert_eq!(d.read("link", 64), Err(UnsafeFile::Link("link".into())));
        assert_eq!(
            d.read("fifo", 64),
            Err(UnsafeFile::NotRegular("fifo".into()))
        );
        assert!(d.has_entry("link") && !d.has_regular_file("link"));
    }

    #[test]
    fn files_of_another_owner_are_refused() {
        let t = tree();
        let data = t.path().join("a/data");
        std::fs::write(data.join("theirs"), "x").unwrap();
        std::os::unix::fs::chown(data.join("theirs"), Some(65534), None).unwrap();
        let d = DataDir::open(&data, me()).unwrap();
        assert!(matches!(
            d.read("theirs", 64),
            Err(UnsafeFile::WrongOwner { uid: 65534, .. })
        ));
    }

    #[test]
    fn the_directory_must_belong_to_the_expected_owner() {
        let t = tree();
        let data = t.path().join("a/data");
        let e = DataDir::open(&data, Some(Uid::from_raw(65534))).unwrap_err();
        assert!(matches!(
            e,
            DataDirError::WrongOwner {
                expected: 65534,
                ..
            }
        ));
        // Unknown system user: root's directories are never data directories.
        assert_eq!(
            DataDir::open(&data, None).unwrap_err(),
            DataDirError::RootOwned(data.clone())
        );
        std::os::unix::fs::chown(&data, Some(65534), None).unwrap();
        assert_eq!(DataDir::open(&data, None).unwrap().owner().as_raw(), 65534);
    }

    #[test]
    fn links_are_followed_only_where_only_root_can_plant_them() {
        let t = tree();
        let top = t.path();
        // root's link in root's 0755 directory: followed
        std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755)).unwrap();
        symlink("a", top.join("trusted")).unwrap();
        let d = DataDir::open(&top.join("trusted/data"), me()).unwrap();
        assert!(d.has_regular_file("PG_VERSION"));
        // the same link in a directory another user can write: refused
        std::fs::create_dir(top.join("open")).unwrap();
        std::fs::set_permissions(top.join("open"), std::fs::Permissions::from_mode(0o777)).unwrap();
        symlink("../a", top.join("open/link")).unwrap();
        let e = DataDir::open(&top.join("open/link/data"), me()).unwrap_err();
        assert_eq!(
            e,
            DataDirError::UntrustedLink {
                path: top.join("open/link/data"),
                link: top.join("open/link"),
            }
        );
        // a link owned by someone else, even in root's directory: refused
        symlink("a", top.join("theirs")).unwrap();
        nix::unistd::fchownat(
            None,
            &top.join("theirs"),
            Some(Uid::from_raw(65534)),
            None,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .unwrap();
        assert!(matches!(
            DataDir::open(&top.join("theirs/data"), me()),
            Err(DataDirError::UntrustedLink { .. })
        ));
        // the final component as a link is a link like any other
        std::fs::set_permissions(top.join("a"), std::fs::Permissions::from_mode(0o777)).unwrap();
        symlink("data", top.join("a/final")).unwrap();
        assert!(matches!(
            DataDir::open(&top.join("a/final"), me()),
            Err(DataDirError::UntrustedLink { .. })
        ));
    }

    #[test]
    fn missing_relative_and_non_directories_are_told_apart() {
        let t = tree();
        let data = t.path().join("a/data");
        assert_eq!(
            DataDir::open(&data.join("nope/x"), me()).unwrap_err(),
            DataDirError::Missing(data.join("nope"))
        );
        assert_eq!(
            DataDir::open(&data.join("PG_VERSION"), me()).unwrap_err(),
            DataDirError::NotDirectory(data.join("PG_VERSION"))
        );
        assert!(matches!(
            DataDir::open(Path::new("rel/dir"), me()),
            Err(DataDirError::Relative(_))
        ));
    }

    #[test]
    fn finds_a_process_by_its_working_directory() {
        let t = tree();
        let data = t.path().join("a/data");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&data)
            .spawn()
            .unwrap();
        let d = DataDir::open(&data, me()).unwrap();
        let other = DataDir::open(t.path(), me()).unwrap();
        assert!(d.is_cwd_of(child.id() as i32));
        assert!(!other.is_cwd_of(child.id() as i32));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
