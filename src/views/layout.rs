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

/// The owner's branding as every page frame shows it. The image and theme URLs carry a
/// version, so a change shows at once although browsers cache them.
pub struct Brand {
    pub name: String,
    pub logo_url: String,
    pub theme_url: String,
}

/// The frame every portal page shares: head, the owner's logo and app name.
pub fn frame(p: Page, brand: &Brand) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("{} · {}", p.title, brand.name), "/static/login.js", brand))
            body data-page=(p.name) {
                main.shell {
                    header.brand {
                        img src=(brand.logo_url) alt="" width="28" height="28";
                        span { (brand.name) }
                    }
                    (p.body)
                }
            }
        }
    }
}

/// Partial: the <head> every page shares, with its one page script.
pub fn head(title: &str, script: &str, brand: &Brand) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="dark";
            title { (title) }
            link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
            link rel="stylesheet" href="/static/styles.css";
            link rel="stylesheet" href=(brand.theme_url);
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
