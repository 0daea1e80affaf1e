//! tfa-gateway: a Pingora reverse proxy that adds two-factor authentication
//! in front of an unchanged web dashboard. The binary in `main.rs` wires
//! these modules together; see README.md for the request's path through them.

pub mod actions;
pub mod admin;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod cookies;
pub mod demo;
pub mod directory;
pub mod drain;
pub mod env;
pub mod factors;
pub mod gateway;
pub mod identity;
pub mod logging;
pub mod lookalike;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod policy;
pub mod private;
pub mod proxy;
pub mod recovery;
pub mod replicas;
pub mod secretbox;
pub mod server;
pub mod session;
pub mod sign_in_limit;
pub mod sms;
pub mod store;
pub mod throttle;
pub mod totp;
pub mod upstream;
