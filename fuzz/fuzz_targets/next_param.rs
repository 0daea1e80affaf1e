//! The destination parameter (`next`) after a sign-in or enrolment: whatever
//! a client sends, `safe_next` must give a path on this site (the
//! open-redirect property), and one that can be sent as a `Location` header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfa_gateway::pages::safe_next;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let next = safe_next(Some(&input));

    assert!(next == "/" || next == *input, "safe_next invented {next:?}");
    assert!(next.starts_with('/'), "{next:?} is not a path");
    assert!(!next.starts_with("//") && !next.starts_with("/\\"), "{next:?} names another host");
    // Browsers drop tab and newline from URLs before resolving them, so
    // "/\t/evil" would become "//evil"; other controls have no place here.
    assert!(!next.chars().any(char::is_control), "{next:?} holds a control character");

    // Resolved the way a browser resolves a Location header, it stays here.
    let base = url::Url::parse("https://gateway.test/_2fa/challenge").unwrap();
    let resolved = base.join(&next).unwrap_or_else(|e| panic!("{next:?} does not resolve: {e}"));
    assert_eq!(resolved.origin(), base.origin(), "{next:?} leaves the site: {resolved}");

    // The redirect carries it: a value the Location header cannot hold would
    // be dropped, leaving a 303 that goes nowhere.
    let reply = tfa_gateway::pages::redirect(&next);
    let location = reply.headers.get("location").map(|v| v.to_str().unwrap_or_default());
    assert_eq!(location, Some(next.as_str()), "the redirect lost its Location");
});
