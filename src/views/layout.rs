//! The page frame every HTML page shares, and small partials.

use maud::{DOCTYPE, Markup, html};

/// A page's content before the shared frame is put around it. The web layer frames it
/// (`web::page`) with the owner's app name, so no view needs to know the branding.
pub struct Page {
    pub title: String,
    /// Lands in `body[data-page]`, where the page script looks for its work (there is
    /// never inline script: the CSP forbids it).
    pub name: &'static str,
    pub body: Markup,
}

pub fn page(title: &str, page_name: &'static str, body: Markup) -> Page {
    Page {
        title: title.to_string(),
        name: page_name,
        body,
    }
}

/// The frame every portal page shares: head, the owner's logo and app name.
pub fn frame(p: Page, app_name: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{} · {app_name}", p.title), "/static/login.js"))
            body data-page=(p.name) {
                main.shell {
                    header.brand {
                        img src="/branding/logo" alt="" width="28" height="28";
                        span { (app_name) }
                    }
                    (p.body)
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
