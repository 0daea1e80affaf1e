//! The demo dashboard's HTML: the plain look of a hosted dashboard (a header
//! bar with the product and the signed-in user, a menu, cards), so that the
//! demo feels like putting 2FA in front of a real product. The stylesheet is
//! inline: this is the stand-in for someone else's application, not the
//! gateway, and it serves no other files.
//!
//! Tests rely on a few things here: the home page's first heading is
//! "Dashboard" and it says `<p>Signed in as EMAIL</p>`; the sign-in form has
//! the fields `email` and `password` inside labels "Email" and "Password";
//! there is one "Sign out" button. The menu's "Security settings" goes to the
//! gateway's settings page: the dashboard links there and knows nothing else
//! of 2FA.

use super::{DemoUser, DEMO_USERS};

const PRODUCT: &str = "Demo Dashboard";

/// Where the gateway serves the user's security settings (the demo's prefix).
const SECURITY_SETTINGS: &str = "/_2fa/settings";

const STYLE: &str = "\
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f3f4f6;color:#1f2937}
a{color:#1d4ed8}
.bar{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.7rem 1.25rem;background:#1e293b;color:#f8fafc}
.brand{margin-right:auto;font-weight:700;font-size:1.1rem;color:#f8fafc;text-decoration:none}
.who{font-size:.9rem;color:#cbd5e1;overflow-wrap:anywhere}
.bar form{margin:0}
.bar button{font:inherit;font-size:.9rem;padding:.25rem .8rem;border:1px solid #94a3b8;border-radius:6px;background:transparent;color:#f8fafc;cursor:pointer}
.bar button:hover{background:#334155}
.layout{display:flex;max-width:1100px;margin:0 auto}
nav{flex:0 0 210px;padding:1.5rem 1rem}
nav a{display:block;padding:.45rem .75rem;border-radius:6px;color:#334155;text-decoration:none}
nav a:hover{background:#e5e7eb}
nav a[aria-current=page]{background:#e2e8f0;color:#0f172a;font-weight:600}
main{flex:1;min-width:0;padding:1.5rem}
h1{margin:0 0 .2rem;font-size:1.6rem}
.sub{margin:0 0 1.5rem;color:#4b5563}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:1rem}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:1rem 1.25rem;box-shadow:0 1px 2px rgba(0,0,0,.05)}
.card h2{margin:0 0 .5rem;font-size:1rem;color:#374151}
.big{margin:0;font-size:1.8rem;font-weight:700}
.muted{margin:.25rem 0 0;color:#4b5563;font-size:.9rem}
.list{list-style:none;margin:0;padding:0}
.list li{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:0 .75rem;padding:.4rem 0;border-bottom:1px solid #f1f5f9}
.list li:last-child{border-bottom:0}
.tag{white-space:nowrap;font-size:.8rem;padding:0 .5rem;border-radius:999px;background:#e0e7ff;color:#3730a3}
.tag.ok{background:#dcfce7;color:#166534}
.tag.warn{background:#fef3c7;color:#92400e}
.signin{max-width:380px;margin:3rem auto;padding:0 1rem}
.signin .card{padding:1.5rem}
.signin form{margin-top:1.25rem}
.signin label{display:block;margin:0 0 1rem;font-weight:600}
.signin input{display:block;width:100%;margin-top:.3rem;padding:.5rem .6rem;font:inherit;border:1px solid #9ca3af;border-radius:6px}
.signin button{width:100%;padding:.6rem;font:inherit;font-weight:600;border:0;border-radius:6px;background:#1d4ed8;color:#fff;cursor:pointer}
.error{padding:.5rem .75rem;border-radius:6px;background:#fee2e2;color:#991b1b}
@media (max-width:700px){
.layout{display:block}
nav{display:flex;flex-wrap:wrap;gap:.25rem;padding:.5rem 1rem;background:#fff;border-bottom:1px solid #e5e7eb}
main{padding:1rem}
}
";

/// Which menu entry a page is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Projects,
    Team,
    Billing,
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · {PRODUCT}</title>\n<style>\n{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
}

/// A signed-in page: header bar, menu, and `main`.
fn signed_in(user: &DemoUser, section: Section, title: &str, main: &str) -> String {
    let entry = |s: Section, href: &str, text: &str| {
        let current = if s == section { " aria-current=\"page\"" } else { "" };
        format!("<a href=\"{href}\"{current}>{text}</a>")
    };
    let body = format!(
        "<header class=\"bar\"><a class=\"brand\" href=\"/\">{PRODUCT}</a>\
         <span class=\"who\">{} · {}</span>\
         <form method=\"POST\" action=\"/logout\"><button type=\"submit\">Sign out</button></form></header>\n\
         <div class=\"layout\">\n<nav aria-label=\"Main\">{}{}{}{}\
         <a href=\"{SECURITY_SETTINGS}\">Security settings</a></nav>\n<main>\n{main}\n</main>\n</div>",
        esc(user.email),
        esc(user.account_name),
        entry(Section::Overview, "/", "Overview"),
        entry(Section::Projects, "/projects", "Projects"),
        entry(Section::Team, "/team", "Team"),
        entry(Section::Billing, "/settings/billing", "Billing"),
    );
    document(title, &body)
}

pub fn login_page(error: Option<&str>, email: &str, next: &str) -> String {
    let error = error.map_or(String::new(), |e| format!("<p class=\"error\">{}</p>\n", esc(e)));
    document(
        "Sign in",
        &format!(
            "<header class=\"bar\"><a class=\"brand\" href=\"/\">{PRODUCT}</a></header>\n\
             <main class=\"signin\"><div class=\"card\">\n<h1>Sign in</h1>\n\
             <p class=\"muted\">to your {PRODUCT} account</p>\n{error}\
             <form method=\"POST\" action=\"/login\">\n\
             <label>Email <input type=\"email\" name=\"email\" value=\"{}\" autocomplete=\"username\" required></label>\n\
             <label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\n\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
             <button type=\"submit\">Sign in</button>\n</form>\n\
             <form method=\"GET\" action=\"/sso/start\" class=\"sso\">\n\
             <label>Work email <input type=\"email\" name=\"email\" autocomplete=\"username\" required></label>\n\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
             <button type=\"submit\">Sign in with Demo SSO</button>\n</form>\n</div>\n\
             <p class=\"muted\">The demo's users and passwords are in the output of <code>tfa-gateway demo</code>.</p>\n\
             </main>",
            esc(email),
            next = esc(next)
        ),
    )
}

pub fn home_page(user: &DemoUser, role: &str) -> String {
    let main = format!(
        "<h1>Dashboard</h1>\n<p>Signed in as {}</p>\n<div class=\"cards\">\n\
         <section class=\"card\"><h2>Accounts</h2><ul class=\"list\"><li><span>{} ({})</span>\
         <span class=\"tag\">Team plan</span></li></ul></section>\n\
         <section class=\"card\"><h2>API requests this month</h2><p class=\"big\">12,480</p>\
         <p class=\"muted\">of 50,000 included · resets on the 1st</p></section>\n\
         <section class=\"card\"><h2>Uptime, last 30 days</h2><p class=\"big\">99.98%</p>\
         <p class=\"muted\">one incident, 9 minutes</p></section>\n\
         <section class=\"card\"><h2>Recent activity</h2><ul class=\"list\">\
         <li><span>web-frontend deployed</span><span class=\"muted\">2 h ago</span></li>\
         <li><span>Invoice #1042 paid</span><span class=\"muted\">yesterday</span></li>\
         <li><span>API key rotated</span><span class=\"muted\">3 days ago</span></li></ul></section>\n\
         </div>",
        esc(user.email),
        esc(user.account_name),
        esc(role),
    );
    signed_in(user, Section::Overview, "Dashboard", &main)
}

pub fn projects_page(user: &DemoUser) -> String {
    let projects = [
        ("web-frontend", "Live", "ok", "deployed 2 h ago"),
        ("billing-service", "Live", "ok", "deployed 4 days ago"),
        ("mobile-api", "Degraded", "warn", "2 failing checks"),
        ("data-export", "Paused", "", "paused by an owner"),
    ];
    let items: String = projects
        .iter()
        .map(|(name, status, class, note)| {
            format!(
                "<li><span><strong>{name}</strong><br><span class=\"muted\">{note}</span></span>\
                 <span class=\"tag {class}\">{status}</span></li>"
            )
        })
        .collect();
    let main = format!(
        "<h1>Projects</h1>\n<p class=\"sub\">{} · 4 projects</p>\n\
         <section class=\"card\"><ul class=\"list\">{items}</ul></section>",
        esc(user.account_name)
    );
    signed_in(user, Section::Projects, "Projects", &main)
}

/// The account's people, with their roles as the dashboard knows them now.
pub fn team_page(user: &DemoUser, role_of: impl Fn(&DemoUser) -> &'static str) -> String {
    let items: String = DEMO_USERS
        .iter()
        .filter(|u| u.account_id == user.account_id)
        .map(|u| {
            format!(
                "<li><span>{}</span><span class=\"tag\">{}</span></li>",
                esc(u.email),
                esc(role_of(u))
            )
        })
        .collect();
    let main = format!(
        "<h1>Team</h1>\n<p class=\"sub\">People in {}</p>\n\
         <section class=\"card\"><ul class=\"list\">{items}</ul></section>",
        esc(user.account_name)
    );
    signed_in(user, Section::Team, "Team", &main)
}

/// The account's plan and payment card: the page the demo asks a fresh
/// second factor for (`[[step_up]]` in config/demo.toml).
pub fn billing_page(user: &DemoUser) -> String {
    let main = format!(
        "<h1>Billing</h1>\n<p class=\"sub\">{}</p>\n\
         <section class=\"card\"><ul class=\"list\">\
         <li><span>Plan</span><span class=\"tag\">Team · $49 a month</span></li>\
         <li><span>Card</span><span>Visa ending 4242</span></li>\
         <li><span>Next invoice</span><span class=\"muted\">on the 1st</span></li></ul></section>",
        esc(user.account_name)
    );
    signed_in(user, Section::Billing, "Billing", &main)
}

fn esc(s: &str) -> String {
    crate::pages::escape(s)
}
