//! Who a signed-in user is, as the upstream says: read from the identity
//! endpoint's JSON answer through the configured JSON pointers. The gateway
//! never decides identity itself; it only remembers what the upstream said.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::IdentitySpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Member,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub account_id: String,
    pub account_name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: String,
    pub email: String,
    pub accounts: Vec<Membership>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error("identity answer is not JSON")]
    NotJson,
    #[error("identity answer has no usable value at {0}")]
    Missing(String),
}

impl Identity {
    /// Reads an identity from the endpoint's body. Ids may be JSON strings
    /// or numbers; a role other than the configured owner role is a member.
    pub fn from_json(body: &[u8], spec: &IdentitySpec) -> Result<Identity, IdentityError> {
        let doc: Value = serde_json::from_slice(body).map_err(|_| IdentityError::NotJson)?;
        let user_id = scalar(&doc, &spec.user_id)?;
        let email = scalar(&doc, &spec.email)?;
        let list = doc
            .pointer(&spec.accounts)
            .and_then(Value::as_array)
            .ok_or_else(|| IdentityError::Missing(spec.accounts.clone()))?;
        let mut accounts = Vec::with_capacity(list.len());
        for a in list {
            let role = scalar(a, &spec.account_role)?;
            accounts.push(Membership {
                account_id: scalar(a, &spec.account_id)?,
                account_name: scalar(a, &spec.account_name).unwrap_or_default(),
                role: if role == spec.owner_role {
                    Role::Owner
                } else {
                    Role::Member
                },
            });
        }
        Ok(Identity {
            user_id,
            email,
            accounts,
        })
    }
}

fn scalar(doc: &Value, pointer: &str) -> Result<String, IdentityError> {
    let missing = || IdentityError::Missing(pointer.to_string());
    match doc.pointer(pointer).ok_or_else(missing)? {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn spec() -> IdentitySpec {
        let text =
            "[gateway]\nlisten=[{address=\"127.0.0.1:1\"}]\ndata_dir=\"x\"\n[upstream]\naddress=\"127.0.0.1:2\"\n[second_factor]\nkey_env=\"K\"\n";
        Config::parse(text, "t").unwrap().upstream.identity
    }

    #[test]
    fn demo_dashboard_answer_gives_user_and_roles() {
        let body = br#"{"id":"u-alice","email":"alice@acme.test","accounts":[{"id":"acme","name":"Acme","role":"owner"},{"id":7,"name":"X","role":"admin"}]}"#;
        let id = Identity::from_json(body, &spec()).unwrap();
        assert_eq!(id.user_id, "u-alice");
        assert_eq!(id.accounts[0].role, Role::Owner);
        assert_eq!(id.accounts[1].account_id, "7");
        assert_eq!(id.accounts[1].role, Role::Member);
    }

    #[test]
    fn answer_without_user_id_is_refused() {
        let body = br#"{"email":"a@b","accounts":[]}"#;
        assert_eq!(
            Identity::from_json(body, &spec()),
            Err(IdentityError::Missing("/id".into()))
        );
    }

    #[test]
    fn html_answer_is_not_an_identity() {
        assert_eq!(Identity::from_json(b"<html>", &spec()), Err(IdentityError::NotJson));
    }
}
