//! The page frame every HTML page shares, and small partials.

use maud::{DOCTYPE, Markup, html};

/// `page_name` lands in `body[data-page]`, where the page script looks for its work
/// (there is never inline script: the CSP forbids it).
pub fn page(title: &str, page_name: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{title} · AuthPortal"), "/static/login.js"))
            body data-page=(page_name) {
                main.shell {
                    header.brand {
                        img src="/branding/logo" alt="" width="28" height="28";
                        span { "AuthPortal" }
                    }
                    (body)
                }
            }
        }
    }
}

/// Partial: the <head> every page shares, with its one page script.
pub fn head(title: &str, script: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="dark";
            title { (title) }
            link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
            link rel="stylesheet" href="/static/styles.css";
            link rel="stylesheet" href="/branding/theme.css";
            script src=(script) defer {}
        }
    }
}

/// Partial: a card with a heading, the shape of nearly every page.
pub fn card(heading: &str, content: Markup) -> Markup {
    html! {
        section.card {
            h1 { (heading) }
            (content)
        }
    }
}

/// Partial: an error or notice line.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class=(format!("notice {kind}")) role="alert" { (text) } }
}
