//! The branding page (`/admin/branding`): names, colours, images and service links.

use maud::{Markup, html};

use super::{Frame, console, status_line};

pub struct BrandingPage<'a> {
    pub version: i64,
    pub branding: &'a crate::settings::Branding,
    pub logo: bool,
    pub background: bool,
    /// Names of the uploaded service icons.
    pub icons: &'a [String],
    pub can_write: bool,
}

/// Partial: one service link's fields (admin.js clones the empty one for "Add").
fn link_row(l: Option<&crate::settings::ServiceLink>, icons: &[String], w: bool) -> Markup {
    let v = |f: fn(&crate::settings::ServiceLink) -> Option<&str>| l.and_then(f).unwrap_or("");
    html! {
        fieldset.link-row {
            legend.visually-hidden { "Service" }
            label { "Name" input type="text" data-link="name" maxlength="60" readonly[!w] value=(v(|l| Some(l.name.as_str()))); }
            label { "Address" input type="url" data-link="url" placeholder="https://" readonly[!w] value=(v(|l| Some(l.url.as_str()))); }
            label { "Description" input type="text" data-link="description" maxlength="200" readonly[!w] value=(v(|l| l.description.as_deref())); }
            label { "Only for group" input type="text" data-link="group" placeholder="everyone" readonly[!w] value=(v(|l| l.group.as_deref())); }
            label { "Icon"
                select data-link="icon" disabled[!w] {
                    option value="" { "none" }
                    @for name in icons {
                        option value=(name) selected[l.and_then(|l| l.icon.as_deref()) == Some(name.as_str())] { (name) }
                    }
                }
            }
            @if w { button.secondary.small type="button" data-remove-link { "Remove" } }
        }
    }
}

/// Partial: an uploadable image with its preview.
fn image_slot(id: &str, title: &str, url: &str, present: bool, hint: &str, w: bool) -> Markup {
    html! {
        div.image-slot data-slot=(id) data-url=(url) {
            h3 { (title) }
            img.preview src=[present.then_some(url)] alt=(format!("Current {}", title.to_lowercase())) hidden[!present];
            p.muted data-none hidden[present] { "None uploaded." }
            p.hint { (hint) }
            @if w {
                label.file { "Upload " (title.to_lowercase()) input type="file" accept="image/png,image/jpeg,image/webp" data-upload; }
                button.secondary.small type="button" data-remove-image hidden[!present] { "Remove" }
            }
            (status_line(&format!("{id}-status")))
        }
    }
}

pub fn branding(f: &Frame, p: &BrandingPage) -> Markup {
    let (w, b) = (p.can_write, p.branding);
    console(
        "Branding",
        "admin-branding",
        f,
        html! {
            h1 { "Branding" }
            p.lead { "The name, colours, images and words people see, and the services listed on their home page after sign-in." }
            p.meta { "Version " strong #br-version { (p.version) } " · " a href="/admin/settings/branding" { "history and JSON" } }
            form #branding-form .stack data-version=(p.version) {
                label for="br-name" { "App name" }
                input #br-name type="text" data-field="app_name" maxlength="40" placeholder=(crate::settings::DEFAULT_APP_NAME) readonly[!w] value=[b.app_name.as_deref()];
                label for="br-accent" { "Accent colour" }
                div.inline {
                    input #br-accent type="color" data-field="accent_color" disabled[!w] value=(b.accent_color.as_deref().unwrap_or("#6c8cff"));
                    label.check { input #br-accent-default type="checkbox" disabled[!w] checked[b.accent_color.is_none()]; " Use the default colour" }
                }
                label for="br-welcome" { "Welcome text on the home page" }
                textarea #br-welcome data-field="welcome_text" rows="2" maxlength="2000" readonly[!w] placeholder="You are signed in with … and have access to this server." { (b.welcome_text.as_deref().unwrap_or("")) }
                label for="br-restricted" { "Added to the “No access” page" }
                textarea #br-restricted data-field="restricted_text" rows="2" maxlength="2000" readonly[!w] placeholder="Who to ask, and how." { (b.restricted_text.as_deref().unwrap_or("")) }
                h2 { "Services on the home page" }
                p.hint { "Each person sees the services for everyone and those of their groups." }
                div #br-links data-field="links" {
                    @for l in &b.links { (link_row(Some(l), p.icons, w)) }
                }
                @if w {
                    template #br-link-template { (link_row(None, p.icons, w)) }
                    div.actions { button.secondary type="button" #br-add-link { "Add a service" } }
                    label for="br-reason" { "Reason for the change (optional, kept in the history)" }
                    input #br-reason type="text" maxlength="500" autocomplete="off";
                    p #br-error .notice.error role="alert" hidden {}
                    div.actions { button.primary type="submit" #br-save { "Save" } }
                }
            }
            (status_line("br-status"))
            @if !w { p.hint { "Your role may see the branding but not change it." } }
            section.panel {
                h2 { "Images" }
                p.hint { "PNG, JPEG or WebP (no SVG: it could carry script). They are stored in the portal's database and served by the portal." }
                div.images {
                    (image_slot("logo", "Logo", "/branding/logo", p.logo, "Square, shown at 28 px beside the app name; up to 512 KiB.", w))
                    (image_slot("background", "Background", "/branding/background", p.background, "Behind the sign-in and home pages; up to 4 MiB.", w))
                }
                h3 { "Service icons" }
                ul.icons #br-icons {
                    @for name in p.icons {
                        li data-icon=(name) {
                            img src=(format!("/branding/icons/{name}")) alt="" width="32" height="32";
                            code { (name) }
                            @if w { button.secondary.small type="button" data-remove-icon=(name) { "Remove" } }
                        }
                    }
                }
                @if w {
                    form #icon-form .inline {
                        label for="icon-name" { "Icon name" }
                        input #icon-name type="text" pattern="[a-z0-9-]{1,32}" maxlength="32" placeholder="grafana" required autocomplete="off";
                        input #icon-file type="file" accept="image/png,image/jpeg,image/webp" required aria-label="Icon image";
                        button.secondary type="submit" { "Upload icon" }
                    }
                    (status_line("icon-status"))
                }
            }
        },
    )
}
