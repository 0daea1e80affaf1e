//! Every WebSocket through the gateway stays open after its `101`. Pingora
//! 0.9.1 tore a tunnel down when it read the dashboard's `101` before the
//! upgrade request's own empty body (cloudflare/pingora issue 946): about
//! one open in 20 to 150 then ended with no byte. The gateway builds on a
//! patched pingora-proxy (vendor/pingora-proxy) until a release has the
//! fix. Here several clients open hundreds of tunnels, each sending a
//! message at once and waiting for its echo; none may fail. Afterwards
//! the gateway holds no more descriptors than before (a tunnel whose ends
//! are both closed is let go) and, asked nothing, spends no CPU time.

mod common;

use common::{signed_in_as, start_dashboard, Gateway};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 4;
const OPENS_EACH: usize = 150;

#[tokio::test(flavor = "multi_thread")]
async fn hundreds_of_websockets_each_echo_their_first_message() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(start_dashboard(), dir.path()).await;
    let carol = signed_in_as(gw.addr, "carol@globex.test").await;
    let cookie = carol.cookie_header().unwrap();
    let pid = gw.child.id();
    let fds_before = open_fds(pid);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (addr, cookie) = (gw.addr, cookie.clone());
            tokio::spawn(async move {
                let mut failed = Vec::new();
                for i in 0..OPENS_EACH {
                    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
                    request.headers_mut().insert("cookie", cookie.parse().unwrap());
                    let (mut ws, _) = match tokio_tungstenite::connect_async(request).await {
                        Ok(open) => open,
                        Err(e) => {
                            failed.push(format!("{c}/{i}: not opened: {e}"));
                            continue;
                        }
                    };
                    let text = format!("hello {c}/{i}");
                    let echoed = match ws.send(Message::Text(text.clone())).await {
                        Ok(()) => ws.next().await,
                        Err(e) => {
                            failed.push(format!("{c}/{i}: not sent: {e}"));
                            continue;
                        }
                    };
                    match echoed {
                        Some(Ok(Message::Text(t))) if t == text => {}
                        other => failed.push(format!("{c}/{i}: {other:?}")),
                    }
                    ws.close(None).await.ok();
                }
                failed
            })
        })
        .collect();
    let mut failed = Vec::new();
    for c in clients {
        failed.extend(c.await.unwrap());
    }
    assert!(
        failed.is_empty(),
        "{} of {} WebSockets failed: {:?}",
        failed.len(),
        CLIENTS * OPENS_EACH,
        &failed[..failed.len().min(10)]
    );

    // Both ends closed: the gateway lets each tunnel go (within seconds,
    // however busy the machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let fds_after = open_fds(pid);
        if fds_after <= fds_before + 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "descriptors: {fds_before} before, {fds_after} after"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let busy = cpu_ticks(pid);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let spent = cpu_ticks(pid) - busy;
    assert!(
        spent < 50,
        "asked nothing, the gateway spent {spent} ticks of CPU in 2 s"
    );
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// User and system CPU time of the process, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}
