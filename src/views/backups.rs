//! The console's backups page (`/admin/backups`): the files with download, restore and
//! delete, "Back up now", upload, the schedule form and its state. admin.js does the
//! work through `/api/admin/backups*` and `/api/admin/config/backups`.

use maud::{Markup, html};

use super::admin::{Frame, console, status_line};
use super::layout::notice;
use crate::backup::Info;
use crate::backup::schedule::{BackupSettings, State};

pub struct BackupsPage<'a> {
    pub files: &'a [Info],
    /// Why the backup directory could not be listed.
    pub dir_error: Option<&'a str>,
    pub settings: &'a BackupSettings,
    /// The `backups` settings section's version (0: never saved).
    pub version: i64,
    pub state: &'a State,
    /// backups.write: create, upload, restore, delete.
    pub can_write: bool,
    /// config.write: change the schedule.
    pub can_configure: bool,
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// Partial: one file (admin.js adds rows the same way after "Back up now").
fn file_row(f: &Frame, b: &Info, can_write: bool) -> Markup {
    html! {
        tr data-backup=(b.name) {
            td { code { (b.name) } @if let Some(e) = &b.error { br; small.muted { (e) } } }
            td { (b.kind) }
            td.nowrap { @if let Some(t) = b.created_at { (super::when(f.tz, t)) } }
            td { (b.created_by.as_deref().unwrap_or("")) }
            td.nowrap { (size(b.size)) }
            td { div.row-actions {
                @if can_write {
                    a.button.secondary.small href=(format!("/api/admin/backups/{}", b.name)) download=(b.name) { "Download" }
                    button.secondary.small type="button" data-restore=(b.name) { "Restore…" }
                    button.danger.small type="button" data-delete=(b.name) { "Delete" }
                }
            } }
        }
    }
}

fn schedule_text(s: &BackupSettings) -> String {
    match s.schedule.as_str() {
        "hourly" => format!("every hour at minute {}", s.minute),
        "daily" => format!("every day at {}", s.time),
        "weekly" => format!("every {} at {}", s.weekday, s.time),
        _ => "off".into(),
    }
}

pub fn page(f: &Frame, p: &BackupsPage) -> Markup {
    let st = p.state;
    console(
        "Backups",
        "admin-backups",
        f,
        html! {
            h1 { "Backups" }
            p.lead { "Each backup is a snapshot of the whole database: users, sign-in links, two-factor secrets, applications and their grants, settings and their history, signing keys. It is sealed under DATA_KEY." }
            (notice("warn", "Keep a copy of DATA_KEY (in secrets.json in the data directory, or your env file) somewhere other than this machine: a backup cannot be opened without it, and a backup kept only on this machine is lost with it. Download backups to keep them elsewhere."))
            @if let Some(e) = p.dir_error { (notice("error", e)) }
            @if p.can_write {
                div.actions {
                    button.primary type="button" #backup-now { "Back up now" }
                }
                (status_line("backup-status"))
            }
            div.table-wrap { table.data #backups {
                thead { tr {
                    th scope="col" { "File" } th scope="col" { "Kind" } th scope="col" { "Taken" }
                    th scope="col" { "By" } th scope="col" { "Size" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody #backups-body data-can-write=(if p.can_write { "1" } else { "0" }) {
                    @for b in p.files { (file_row(f, b, p.can_write)) }
                    @if p.files.is_empty() { tr #backups-empty { td colspan="6" { span.muted { "No backups yet." } } } }
                }
            } }
            @if p.can_write {
                section #restore-panel .panel.conflict hidden {
                    h2 { "Restore " code #restore-name {} }
                    p { "A safety backup of the current data is taken first. Then, in one step that either completes or changes nothing:" }
                    fieldset.checks {
                        legend { "What to restore" }
                        label.check { input type="radio" name="restore-scope" value="settings" checked; span { "Settings only: the settings sections, their history and the uploaded logo. Users, sessions and applications stay as they are." } }
                        label.check { input type="radio" name="restore-scope" value="all"; span { "Everything: all data as it was when the backup was taken. Sessions not in the backup end, so people (maybe you) sign in again. The audit log is kept." } }
                    }
                    div.actions {
                        button.danger type="button" #restore-confirm { "Restore now" }
                        button.secondary type="button" #restore-cancel { "Cancel" }
                    }
                }
                (status_line("restore-status"))
                section.panel {
                    h2 { "Upload a backup" }
                    p.hint { "A backup file from this portal or another one running with the same DATA_KEY (up to 64 MiB). It is checked completely before it is stored; restore it from the list afterwards." }
                    form #backup-upload .stack {
                        label for="backup-file" { "Backup file (.apbak)" }
                        input #backup-file type="file" name="file" accept=".apbak" required;
                        div { button.primary type="submit" #backup-upload-submit { "Upload" } }
                    }
                    (status_line("upload-status"))
                }
            }
            section.panel {
                h2 { "Schedule" }
                dl.facts #schedule-state {
                    dt { "Schedule" } dd #state-schedule { (schedule_text(p.settings)) " (" (f.tz.name()) "), keeping "
                        @if p.settings.keep == 0 { "all backups" } @else { "the newest " (p.settings.keep) } }
                    dt { "Next run" } dd #state-next { @if let Some(t) = st.next_run { (super::when(f.tz, t)) } @else { "none (off)" } }
                    dt { "Last run" } dd { @if let Some(t) = st.last_run { (super::when(f.tz, t)) } @else { "never" } }
                    dt { "Last success" } dd { @if let Some(t) = st.last_success { (super::when(f.tz, t)) } @else { "never" } }
                    @if let Some(e) = &st.last_error {
                        dt { "Last error" } dd.error { (e) @if st.failures > 1 { " (" (st.failures) " failures in a row)" } }
                    }
                }
                @if p.can_configure {
                    form #schedule-form .stack data-version=(p.version) {
                        label for="sch-kind" { "Take a backup" }
                        select #sch-kind name="schedule" {
                            @for (v, label) in [("off", "never (off)"), ("hourly", "every hour"), ("daily", "every day"), ("weekly", "every week")] {
                                option value=(v) selected[p.settings.schedule == v] { (label) }
                            }
                        }
                        label for="sch-minute" { "Minute of the hour (hourly)" }
                        input #sch-minute type="number" name="minute" min="0" max="59" value=(p.settings.minute);
                        label for="sch-weekday" { "Day of the week (weekly)" }
                        select #sch-weekday name="weekday" {
                            @for d in ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] {
                                option value=(d) selected[p.settings.weekday == d] { (d) }
                            }
                        }
                        label for="sch-time" { "Time of day, " (f.tz.name()) " (daily and weekly)" }
                        input #sch-time type="time" name="time" value=(p.settings.time) required;
                        label for="sch-keep" { "Keep the newest (0 keeps all; safety and uploaded backups are not counted)" }
                        input #sch-keep type="number" name="keep" min="0" max="10000" value=(p.settings.keep);
                        div.actions { button.primary type="submit" #schedule-save { "Save schedule" } }
                    }
                    (status_line("schedule-status"))
                } @else {
                    p.hint { "Your role may not change the schedule (it needs config.write)." }
                }
            }
        },
    )
}
