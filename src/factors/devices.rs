//! Remembered devices: a browser that passed the second factor with
//! "remember this device" skips the challenge for a while. Its cookie holds
//! a random token bound to one user; only the token's SHA-256 is stored,
//! in that user's record, so forgetting every device is part of the same
//! atomic change that turns 2FA off or makes new recovery codes.

use sha2::Digest as _;
use subtle::ConstantTimeEq;

use super::{FactorError, Factors};
use crate::store::{FactorsRecord, RememberedDevice};

/// Devices one user may have remembered; the least recently used goes.
pub const MAX_DEVICES: usize = 10;

fn digest(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// The device `token` names among `devices`, compared in constant time,
/// if it has not expired.
fn find<'a>(devices: &'a [RememberedDevice], token: &str, now: u64) -> Option<&'a RememberedDevice> {
    let hash = digest(token);
    let mut found = None;
    for d in devices {
        if bool::from(d.hash.ct_eq(&hash)) && d.expires > now {
            found = Some(d);
        }
    }
    found
}

impl Factors {
    /// Remembers this browser for `days`; returns the token for its cookie.
    pub async fn remember_device(&self, user_id: &str, label: &str, days: u64) -> Result<String, FactorError> {
        let token = self.env.token::<32>();
        let now = self.env.now();
        let device = RememberedDevice {
            id: self.env.token::<9>(),
            hash: digest(&token),
            label: label.to_string(),
            created: now,
            last_used: Some(now),
            expires: now + days * 86_400,
        };
        self.store
            .update_factors(user_id, |f| {
                let mut devices: Vec<_> = f.devices().iter().filter(|d| d.expires > now).cloned().collect();
                devices.push(device.clone());
                if devices.len() > MAX_DEVICES {
                    devices.sort_by_key(|d| std::cmp::Reverse(d.last_used.unwrap_or(d.created)));
                    devices.truncate(MAX_DEVICES);
                }
                f.set_devices(devices);
                Ok::<_, FactorError>(())
            })
            .await?;
        Ok(token)
    }

    /// Whether `token` is a remembered device in this user's `record` (just
    /// read by the caller) that has not expired; its use is recorded.
    /// Another user's token lets no one in.
    pub async fn device_lets_in(
        &self,
        user_id: &str,
        record: &FactorsRecord,
        token: &str,
    ) -> Result<bool, FactorError> {
        let now = self.env.now();
        let Some(id) = find(record.devices(), token, now).map(|d| d.id.clone()) else {
            return Ok(false);
        };
        self.store
            .update_factors(user_id, |f| {
                let mut devices = f.devices().to_vec();
                // Forgotten meanwhile (2FA turned off, new codes): not let in.
                let Some(d) = devices.iter_mut().find(|d| d.id == id) else {
                    return Ok(false);
                };
                d.last_used = Some(now);
                f.set_devices(devices);
                Ok::<_, FactorError>(true)
            })
            .await
    }

    /// Forgets one device.
    pub async fn forget_device(&self, user_id: &str, id: &str) -> Result<(), FactorError> {
        self.store
            .update_factors(user_id, |f| {
                let mut devices = f.devices().to_vec();
                let before = devices.len();
                devices.retain(|d| d.id != id);
                if devices.len() == before {
                    return Err(FactorError::NoSuchDevice);
                }
                f.set_devices(devices);
                Ok(())
            })
            .await
    }
}

/// The user's devices that have not expired, for the list.
pub fn live_devices(record: &FactorsRecord, now: u64) -> Vec<RememberedDevice> {
    record.devices().iter().filter(|d| d.expires > now).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(token: &str, expires: u64) -> RememberedDevice {
        RememberedDevice {
            id: token.into(),
            hash: digest(token),
            label: "x".into(),
            created: 1,
            last_used: None,
            expires,
        }
    }

    #[test]
    fn a_token_lets_in_only_its_own_unexpired_device() {
        let devices = [device("a", 100), device("b", 10)];
        assert_eq!(find(&devices, "a", 50).map(|d| d.id.as_str()), Some("a"));
        assert!(find(&devices, "b", 50).is_none(), "expired");
        assert!(find(&devices, "c", 50).is_none());
        assert!(find(&devices, "", 50).is_none());
    }
}
