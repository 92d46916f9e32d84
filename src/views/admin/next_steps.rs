//! The next-steps panel on the overview: the sign-in address to share, the OIDC issuer,
//! forward-auth snippets for this install (each with a copy button), and warnings.

use maud::{Markup, html};

use crate::next_steps::Warning;

pub struct NextSteps<'a> {
    pub signin_url: &'a str,
    pub issuer: &'a str,
    pub discovery_url: &'a str,
    /// (id, label, snippet text) per proxy.
    pub snippets: &'a [(&'static str, &'static str, String)],
    pub warnings: &'a [Warning],
}

/// A value with a button that copies it (admin.js, `data-copy` names the element).
fn copyable(id: &str, value: &str) -> Markup {
    html! {
        span.copyable {
            code #(id) { (value) }
            button.secondary.small type="button" data-copy=(id) { "Copy" }
        }
    }
}

pub fn next_steps(n: &NextSteps) -> Markup {
    html! {
        section.panel #next-steps {
            h2 { "Next steps" }
            @if !n.warnings.is_empty() {
                ul.warnings #setup-warnings role="alert" {
                    @for w in n.warnings {
                        li.status.warn data-warning=(w.id) {
                            (w.text)
                            @if let Some((href, text)) = w.fix_at { " " a href=(href) { (text) " →" } }
                        }
                    }
                }
            }
            dl {
                dt { "Sign-in address to share" }
                dd { (copyable("share-signin", n.signin_url)) }
                dt { "OpenID Connect issuer" }
                dd { (copyable("share-issuer", n.issuer)) }
                dt { "Discovery URL" }
                dd { (copyable("share-discovery", n.discovery_url)) }
            }
            p.hint { "Apps that sign in with OpenID Connect need a client: add one under " a href="/admin/clients" { "Clients" } "." }
            h3 { "Protect an app with forward-auth" }
            p.hint { "Your reverse proxy asks the portal about each request. These snippets use this portal's addresses; change the app's name and its address (127.0.0.1:9000) to yours, and add your TLS settings." }
            @for (id, label, text) in n.snippets {
                details.snippet {
                    summary { (label) }
                    pre.config #(format!("snippet-{id}")) { code { (text) } }
                    button.secondary.small type="button" data-copy=(format!("snippet-{id}")) { "Copy " (label) " snippet" }
                }
            }
            p.hint role="status" #copy-status {}
        }
    }
}
