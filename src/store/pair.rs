//! On sled, a user's record and their factors share one entry of the
//! `users` tree. sled keeps a few dozen bytes in memory for every record
//! from the moment it opens (its page table: where each page and its
//! latest changes are in the log), and reads its whole log back when it
//! starts after a crash or a first run; one record per enrolled user
//! instead of two halves both (BENCHMARKS.md, "Enrolled users without a
//! session"). The `Backend` contract still sees two tables: this module
//! splits and joins the halves, without knowing sled.
//!
//! An entry is either a lone user record as earlier releases wrote it (its
//! first byte is a record version, always below `MARK`), or
//! `MARK, flags, user length (u32 LE), user bytes, factors bytes`.

use super::StoreError;

/// The first byte of a joined entry; record versions never reach it.
const MARK: u8 = 0xFE;
const HAS_USER: u8 = 1;
const HAS_FACTORS: u8 = 2;
const HEADER: usize = 6;

/// Which half of a user's entry a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    User,
    Factors,
}

/// Both halves of one entry, borrowed from it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Halves<'a> {
    user: Option<&'a [u8]>,
    factors: Option<&'a [u8]>,
}

fn corrupt(detail: &str) -> StoreError {
    StoreError::Corrupt {
        tree: "users",
        detail: detail.to_string(),
    }
}

fn split(entry: &[u8]) -> Result<Halves<'_>, StoreError> {
    if entry.first() != Some(&MARK) {
        return Ok(Halves {
            user: Some(entry),
            factors: None,
        });
    }
    let header = entry.get(..HEADER).ok_or_else(|| corrupt("a joined entry cut short"))?;
    let flags = header[1];
    let user_len = u32::from_le_bytes([header[2], header[3], header[4], header[5]]) as usize;
    let rest = &entry[HEADER..];
    if flags & !(HAS_USER | HAS_FACTORS) != 0 || rest.len() < user_len {
        return Err(corrupt("a joined entry with a bad header"));
    }
    let (user, factors) = rest.split_at(user_len);
    let has_user = flags & HAS_USER != 0;
    let has_factors = flags & HAS_FACTORS != 0;
    if (!has_user && !user.is_empty()) || (!has_factors && !factors.is_empty()) {
        return Err(corrupt("a joined entry with bytes for a missing half"));
    }
    Ok(Halves {
        user: has_user.then_some(user),
        factors: has_factors.then_some(factors),
    })
}

fn join(halves: &Halves<'_>) -> Option<Vec<u8>> {
    match halves {
        Halves {
            user: None,
            factors: None,
        } => None,
        // Written the way earlier releases did, so that a user without
        // factors costs no header.
        Halves {
            user: Some(u),
            factors: None,
        } if u.first() != Some(&MARK) => Some(u.to_vec()),
        Halves { user, factors } => {
            let user = user.unwrap_or_default();
            let flags =
                if halves.user.is_some() { HAS_USER } else { 0 } | if factors.is_some() { HAS_FACTORS } else { 0 };
            let mut out = Vec::with_capacity(HEADER + user.len() + factors.map_or(0, <[u8]>::len));
            out.push(MARK);
            out.push(flags);
            out.extend_from_slice(&(user.len() as u32).to_le_bytes());
            out.extend_from_slice(user);
            out.extend_from_slice(factors.unwrap_or_default());
            Some(out)
        }
    }
}

/// The `half` of `entry`, if it has one.
pub fn get(entry: &[u8], half: Half) -> Result<Option<&[u8]>, StoreError> {
    let halves = split(entry)?;
    Ok(match half {
        Half::User => halves.user,
        Half::Factors => halves.factors,
    })
}

/// `entry` (`None`: absent) with its `half` set to `new` (`None`: removed);
/// `None` when neither half is left, so the entry goes.
pub fn set(entry: Option<&[u8]>, half: Half, new: Option<&[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
    let mut halves = entry.map(split).transpose()?.unwrap_or_default();
    match half {
        Half::User => halves.user = new,
        Half::Factors => halves.factors = new,
    }
    Ok(join(&halves))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &[u8] = b"\x01{\"id\":\"u-carol\"}";
    const FACTORS: &[u8] = b"\x01{\"totp\":null}";

    #[test]
    fn an_entry_from_an_earlier_release_is_a_lone_user() {
        assert_eq!(get(USER, Half::User).unwrap(), Some(USER));
        assert_eq!(get(USER, Half::Factors).unwrap(), None);
    }

    #[test]
    fn each_half_is_set_and_removed_without_touching_the_other() {
        let both = set(Some(USER), Half::Factors, Some(FACTORS)).unwrap().unwrap();
        assert_eq!(get(&both, Half::User).unwrap(), Some(USER));
        assert_eq!(get(&both, Half::Factors).unwrap(), Some(FACTORS));

        let factors_only = set(Some(&both), Half::User, None).unwrap().unwrap();
        assert_eq!(get(&factors_only, Half::User).unwrap(), None);
        assert_eq!(get(&factors_only, Half::Factors).unwrap(), Some(FACTORS));

        let user_again = set(Some(&both), Half::Factors, None).unwrap().unwrap();
        assert_eq!(user_again, USER, "a user without factors is stored as before");
        assert_eq!(set(Some(&factors_only), Half::Factors, None).unwrap(), None);
        assert_eq!(set(None, Half::User, None).unwrap(), None);
    }

    #[test]
    fn empty_halves_are_kept_apart_from_missing_ones() {
        let entry = set(None, Half::Factors, Some(b"")).unwrap().unwrap();
        assert_eq!(get(&entry, Half::Factors).unwrap(), Some(&b""[..]));
        assert_eq!(get(&entry, Half::User).unwrap(), None);
    }

    #[test]
    fn a_damaged_entry_is_reported_not_misread() {
        let both = set(Some(USER), Half::Factors, Some(FACTORS)).unwrap().unwrap();
        for bad in [
            &both[..3],
            &[MARK, 0x80, 0, 0, 0, 0][..],
            &[MARK, HAS_USER, 99, 0, 0, 0, 1][..],
            &[MARK, 0, 0, 0, 0, 0, 7][..],
        ] {
            assert!(
                matches!(get(bad, Half::User), Err(StoreError::Corrupt { .. })),
                "{bad:?}"
            );
            assert!(set(Some(bad), Half::Factors, None).is_err(), "{bad:?}");
        }
    }
}
