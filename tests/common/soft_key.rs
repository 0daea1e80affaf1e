//! A security key in software, for tests of the JSON API without a browser:
//! it answers the gateway's creation and request options the way a CTAP2
//! key and the browser together do (a P-256 key, "none" attestation, the
//! client data a browser writes, a signature counter), so the gateway's
//! WebAuthn library checks it exactly as it checks a real key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ciborium::value::Value as Cbor;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub struct SoftKey {
    key: SigningKey,
    pub credential_id: Vec<u8>,
    counter: u32,
    /// The origin the "browser" is at.
    origin: String,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SoftKey {
    pub fn new(origin: &str) -> SoftKey {
        let key = loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(k) = SigningKey::from_slice(&bytes) {
                break k;
            }
        };
        SoftKey {
            key,
            credential_id: rand::random::<[u8; 32]>().to_vec(),
            counter: 0,
            origin: origin.to_string(),
        }
    }

    pub fn id(&self) -> String {
        b64(&self.credential_id)
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }

    /// Flags: user present, user verified, and `extra`.
    fn auth_data(&mut self, rp_id: &str, extra: u8) -> Vec<u8> {
        self.counter += 1;
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(0x01 | 0x04 | extra);
        data.extend_from_slice(&self.counter.to_be_bytes());
        data
    }

    /// The credential for `options` (the answer of `register/start`).
    pub fn register(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().expect("rp.id").to_string();
        let challenge = pk["challenge"].as_str().expect("a challenge");
        let client_data = self.client_data("webauthn.create", challenge);
        let point = self.key.verifying_key().to_sec1_point(false);
        let xy = &point.as_bytes()[1..];
        let cose = Cbor::Map(vec![
            (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
            (Cbor::Integer(3.into()), Cbor::Integer((-7).into())),
            (Cbor::Integer((-1).into()), Cbor::Integer(1.into())),
            (Cbor::Integer((-2).into()), Cbor::Bytes(xy[..32].to_vec())),
            (Cbor::Integer((-3).into()), Cbor::Bytes(xy[32..].to_vec())),
        ]);
        let mut auth = self.auth_data(&rp_id, 0x40);
        auth.extend_from_slice(&[0u8; 16]); // AAGUID
        auth.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth.extend_from_slice(&self.credential_id);
        ciborium::into_writer(&cose, &mut auth).expect("CBOR");
        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth)),
        ]);
        let mut object = Vec::new();
        ciborium::into_writer(&attestation, &mut object).expect("CBOR");
        json!({
            "id": self.id(), "rawId": self.id(), "type": "public-key", "extensions": {},
            "response": { "attestationObject": b64(&object), "clientDataJSON": b64(&client_data), "transports": ["usb"] }
        })
    }

    /// The signed answer to `options` (the answer of `challenge/start`).
    pub fn sign_in(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rpId"].as_str().expect("rpId").to_string();
        let challenge = pk["challenge"].as_str().expect("a challenge");
        let client_data = self.client_data("webauthn.get", challenge);
        let auth = self.auth_data(&rp_id, 0);
        let mut signed = auth.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = self.key.sign(&signed);
        json!({
            "id": self.id(), "rawId": self.id(), "type": "public-key", "extensions": {},
            "response": {
                "authenticatorData": b64(&auth), "clientDataJSON": b64(&client_data),
                "signature": b64(signature.to_der().as_bytes()), "userHandle": null
            }
        })
    }

    /// As `sign_in`, from a copy of this key whose counter fell behind (a
    /// cloned key): the counter is set back to `to` first.
    pub fn set_counter(&mut self, to: u32) {
        self.counter = to;
    }
}
