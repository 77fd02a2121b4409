//! PostgreSQL WAL positions (LSN) and timelines.

use std::fmt;
use std::str::FromStr;

/// A WAL position, as PostgreSQL prints it (`16/B374D848`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl FromStr for Lsn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (hi, lo) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("invalid LSN {s:?}: expected X/Y"))?;
        let hi = u32::from_str_radix(hi, 16).map_err(|_| format!("invalid LSN {s:?}"))?;
        let lo = u32::from_str_radix(lo, 16).map_err(|_| format!("invalid LSN {s:?}"))?;
        Ok(Lsn((u64::from(hi) << 32) | u64::from(lo)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// Where a node's WAL stands: its timeline, then its position on it. Ordered so that a
/// greater value is a more advanced node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPosition {
    pub timeline: u32,
    pub lsn: Lsn,
}

impl WalPosition {
    /// The `<timeline>#<lsn as decimal>` form published in the `lsn_location` attribute
    /// (PAF's format, so mixed tooling reads it the same way).
    pub fn to_attribute(self) -> String {
        format!("{}#{}", self.timeline, self.lsn.0)
    }

    pub fn from_attribute(s: &str) -> Option<Self> {
        let (tl, lsn) = s.trim().split_once('#')?;
        Some(WalPosition {
            timeline: tl.parse().ok()?,
            lsn: Lsn(lsn.parse().ok()?),
        })
    }
}

impl fmt::Display for WalPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timeline {} at {}", self.timeline, self.lsn)
    }
}

/// The position a standby can be promoted from: the furthest of what it received and what
/// it replayed. Right after a restart the receive position is reset to the start of the
/// current segment, behind replay (PAF issues 225/228), so the receive position alone would
/// let a stale standby win.
pub fn standby_position(received: Option<Lsn>, replayed: Option<Lsn>) -> Option<Lsn> {
    match (received, replayed) {
        (Some(r), Some(p)) => Some(r.max(p)),
        (r, p) => r.or(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_lsn() {
        let l: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(l.0, 0x16_B374_D848);
        assert_eq!(l.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Lsn>().unwrap(), Lsn(0));
        assert_eq!(" 0/3000028\n".parse::<Lsn>().unwrap(), Lsn(0x300_0028));
    }

    #[test]
    fn rejects_malformed_lsn() {
        for bad in ["", "0", "x/1", "1/", "/1", "1/2/3", "100000000/0"] {
            assert!(bad.parse::<Lsn>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn attribute_form_round_trips() {
        let p = WalPosition {
            timeline: 2,
            lsn: Lsn(50_332_208),
        };
        assert_eq!(p.to_attribute(), "2#50332208");
        assert_eq!(WalPosition::from_attribute("2#50332208"), Some(p));
        assert_eq!(WalPosition::from_attribute("2-50332208"), None);
        assert_eq!(WalPosition::from_attribute("x#1"), None);
        assert_eq!(WalPosition::from_attribute(""), None);
    }

    #[test]
    fn timeline_outranks_lsn() {
        let old_tl_far = WalPosition {
            timeline: 1,
            lsn: Lsn(9_000),
        };
        let new_tl_near = WalPosition {
            timeline: 2,
            lsn: Lsn(10),
        };
        assert!(new_tl_near > old_tl_far);
    }

    #[test]
    fn standby_position_takes_the_furthest_known() {
        let seg_start = Lsn(0x300_0000);
        let replayed = Lsn(0x300_00A0);
        assert_eq!(
            standby_position(Some(seg_start), Some(replayed)),
            Some(replayed)
        );
        assert_eq!(
            standby_position(Some(replayed), Some(seg_start)),
            Some(replayed)
        );
        assert_eq!(standby_position(None, Some(replayed)), Some(replayed));
        assert_eq!(standby_position(Some(seg_start), None), Some(seg_start));
        assert_eq!(standby_position(None, None), None);
    }
}
