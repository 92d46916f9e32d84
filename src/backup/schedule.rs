//! The backup schedule: the `backups` settings section (off / hourly at minute M /
//! daily at HH:MM / weekly on a weekday at HH:MM, in APP_TIMEZONE, and retention), the
//! pure `next_run`, and the thread that runs due backups, retries failures with
//! back-off and records its state in the meta table.
//!
//! Daylight-saving rules for daily and weekly runs: a local time that does not exist
//! (spring forward) runs at the first instant after the gap; one that happens twice
//! (fall back) runs once, at the first. Hourly runs happen every real hour at minute M
//! of the local clock: across spring forward the missing hour has no run (the runs
//! before and after it are one hour apart), across fall back the repeated hour runs
//! twice (each an hour after the last).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::db;
use crate::event_type::EventType;

pub const SECTION: &str = <BackupSettings as crate::settings::Section>::NAME;
/// The meta row holding the schedule state (JSON).
pub const STATE_KEY: &str = "backup_schedule_state";
/// How often the thread looks at the clock.
const TICK_EVERY: Duration = Duration::from_secs(5);
/// First retry after a failure; doubled per further failure up to RETRY_MAX_SECS.
const RETRY_FIRST_SECS: i64 = 5 * 60;
const RETRY_MAX_SECS: i64 = 6 * 3600;

/// Section "backups" as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// "off", "hourly", "daily" or "weekly".
    pub schedule: String,
    /// Hourly: the minute of each hour, 0 to 59.
    pub minute: u32,
    /// Daily and weekly: the local time, "HH:MM".
    pub time: String,
    /// Weekly: "monday" to "sunday".
    pub weekday: String,
    /// Retention: how many of the newest backups to keep (0 = all).
    pub keep: u32,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            schedule: "off".into(),
            minute: 0,
            time: "03:00".into(),
            weekday: "sunday".into(),
            keep: 7,
        }
    }
}

/// When backups run, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    Off,
    Hourly { minute: u32 },
    Daily { at: NaiveTime },
    Weekly { day: Weekday, at: NaiveTime },
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

/// "HH:MM", 00:00 to 23:59.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

impl BackupSettings {
    /// The schedule, or the message for the field that is wrong.
    pub fn schedule(&self) -> Result<Schedule, String> {
        let time = || {
            parse_time(&self.time).ok_or_else(|| {
                format!(
                    "backups.time: {:?} is not a time of day like 03:00 (24-hour HH:MM)",
                    self.time
                )
            })
        };
        match self.schedule.as_str() {
            "off" => Ok(Schedule::Off),
            "hourly" if self.minute > 59 => Err(format!(
                "backups.minute: {} is not a minute between 0 and 59",
                self.minute
            )),
            "hourly" => Ok(Schedule::Hourly {
                minute: self.minute,
            }),
            "daily" => Ok(Schedule::Daily { at: time()? }),
            "weekly" => {
                let day = WEEKDAYS
                    .iter()
                    .find(|(n, _)| *n == self.weekday.to_ascii_lowercase())
                    .map(|(_, d)| *d)
                    .ok_or_else(|| {
                        format!(
                            "backups.weekday: {:?} is not a day of the week (monday to sunday)",
                            self.weekday
                        )
                    })?;
                Ok(Schedule::Weekly { day, at: time()? })
            }
            other => Err(format!(
                "backups.schedule: {other:?} is not one of off, hourly, daily, weekly"
            )),
        }
    }

    pub fn check(&self) -> Result<(), String> {
        self.schedule()?;
        if self.keep > 10_000 {
            return Err(format!(
                "backups.keep: {} is too many; keep at most 10000 (0 keeps all)",
                self.keep
            ));
        }
        Ok(())
    }
}

/// The saved section, the default when never saved (or unreadable after a downgrade).
pub fn settings(conn: &Connection) -> crate::error::Result<BackupSettings> {
    let Some(saved) = db::settings::get(conn, SECTION)? else {
        return Ok(BackupSettings::default());
    };
    Ok(serde_json::from_value(saved.config).unwrap_or_else(|e| {
        crate::log_error!("settings section backups is unreadable ({e}); backups stay off");
        BackupSettings::default()
    }))
}

/// The instant a local wall-clock time means: the first when it happens twice, the
/// first instant after the gap when it does not happen at all.
fn first_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    if let Some(t) = tz.from_local_datetime(&local).earliest() {
        return t.with_timezone(&Utc);
    }
    // In a gap: the first minute that exists again is where the clock jumped to.
    let mut probe = local;
    for _ in 0..(48 * 60) {
        probe += TimeDelta::minutes(1);
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&local)
}

/// The first run strictly after `after`, or None when backups are off.
pub fn next_run(schedule: &Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&tz).naive_local();
    match *schedule {
        Schedule::Off => None,
        Schedule::Hourly { minute } => {
            // Local hours from a little before `after`; each existing occurrence of
            // HH:minute is a run (two in a repeated hour, none in a skipped one).
            let start = local.date().and_hms_opt(local.hour_of_day(), 0, 0)? - TimeDelta::hours(3);
            (0..72).find_map(|h| {
                let wall = start + TimeDelta::hours(h) + TimeDelta::minutes(i64::from(minute));
                let found = tz.from_local_datetime(&wall);
                [found.earliest(), found.latest()]
                    .into_iter()
                    .flatten()
                    .map(|t| t.with_timezone(&Utc))
                    .find(|t| *t > after)
            })
        }
        Schedule::Daily { at } => (0..4).find_map(|d| {
            let day = local.date() + TimeDelta::days(d - 1);
            Some(first_instant(tz, day.and_time(at))).filter(|t| *t > after)
        }),
        Schedule::Weekly { day, at } => (0..10).find_map(|d| {
            let date = local.date() + TimeDelta::days(d - 1);
            (date.weekday() == day)
                .then(|| first_instant(tz, date.and_time(at)))
                .filter(|t| *t > after)
        }),
    }
}

/// `NaiveDateTime::hour` without importing Timelike everywhere.
trait HourOfDay {
    fn hour_of_day(&self) -> u32;
}

impl HourOfDay for NaiveDateTime {
    fn hour_of_day(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
}

/// What the schedule did, kept in the meta table (no schema change needed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub last_run: Option<i64>,
    pub last_success: Option<i64>,
    pub last_backup: Option<String>,
    pub last_error: Option<String>,
    pub failures: u32,
    pub next_run: Option<i64>,
    /// The schedule and time zone `next_run` was computed for; a change replans.
    pub planned_for: Option<String>,
}

pub fn state(conn: &Connection) -> crate::error::Result<State> {
    Ok(db::meta::get(conn, STATE_KEY)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

fn save_state(conn: &Connection, s: &State) -> crate::error::Result<()> {
    db::meta::set(
        conn,
        STATE_KEY,
        &serde_json::to_string(s).expect("state serializes"),
    )
}

/// The wait before retry number `failures` (1 = the first retry): 5, 10, 20... minutes.
pub fn backoff_secs(failures: u32) -> i64 {
    let doublings = failures.saturating_sub(1).min(16);
    (RETRY_FIRST_SECS << doublings).min(RETRY_MAX_SECS)
}

fn ts(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// The state as the schedule now stands (replanned if the settings changed), saved.
pub fn current(app: &App) -> crate::error::Result<(BackupSettings, State)> {
    let conn = app.db.conn()?;
    let settings = settings(&conn)?;
    let schedule = settings.schedule().unwrap_or(Schedule::Off);
    let tz = app.config.timezone;
    let plan = format!("{schedule:?} in {}", tz.name());
    let mut state = state(&conn)?;
    if state.planned_for.as_deref() != Some(plan.as_str()) {
        state.next_run = next_run(&schedule, tz, at(app.clock.now())).map(ts);
        state.planned_for = Some(plan);
        state.failures = 0;
        save_state(&conn, &state)?;
    }
    Ok((settings, state))
}

/// Runs the scheduled backup if it is due. Returns the backup's name when one ran.
pub fn tick(app: &App) -> crate::error::Result<Option<Result<String, String>>> {
    // One tick at a time per portal (App::backup_tick).
    let _one = app.backup_tick.lock().unwrap_or_else(|p| p.into_inner());
    let (settings, mut state) = current(app)?;
    let now = app.clock.now();
    let Some(due) = state.next_run else {
        return Ok(None);
    };
    if now < due {
        return Ok(None);
    }
    let schedule = settings.schedule().unwrap_or(Schedule::Off);
    let regular = next_run(&schedule, app.config.timezone, at(now)).map(ts);
    state.last_run = Some(now);
    let outcome = super::create(app, "schedule", super::Kind::Scheduled);
    let conn = app.db.conn()?;
    let event = match &outcome {
        Ok(info) => {
            state.last_success = Some(now);
            state.last_backup = Some(info.name.clone());
            state.last_error = None;
            state.failures = 0;
            state.next_run = regular;
            let pruned = super::prune(app, settings.keep).unwrap_or_else(|e| {
                crate::log_warn!("backups: retention could not remove old backups: {e}");
                Vec::new()
            });
            crate::log_info!(
                "backups: scheduled backup {} written ({} bytes); {} old backups removed",
                info.name,
                info.size,
                pruned.len()
            );
            (
                EventType::BackupSuccess,
                "success",
                serde_json::json!({ "name": info.name, "size": info.size, "pruned": pruned }),
            )
        }
        Err(e) => {
            state.failures += 1;
            state.last_error = Some(e.clone());
            let retry = now + backoff_secs(state.failures);
            state.next_run = Some(regular.map_or(retry, |r| r.min(retry)));
            crate::log_error!(
                "backups: scheduled backup failed ({} in a row; next try {}): {e}",
                state.failures,
                at(state.next_run.unwrap_or(retry)).to_rfc3339()
            );
            (
                EventType::BackupFailure,
                "failure",
                serde_json::json!({ "error": e, "failures": state.failures }),
            )
        }
    };
    save_state(&conn, &state)?;
    db::events::record(
        &conn,
        &db::events::Event {
            kind: event.0,
            user_id: None,
            ip: None,
            result: event.1,
            detail: event.2,
        },
        now,
    )?;
    Ok(Some(outcome.map(|i| i.name)))
}

/// The thread that runs scheduled backups until `stop` is raised.
pub fn spawn(app: Arc<App>, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("backups".into())
        .spawn(move || {
            let mut waited = Duration::ZERO;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                waited += Duration::from_millis(200);
                if waited >= TICK_EVERY {
                    waited = Duration::ZERO;
                    if let Err(e) = tick(&app) {
                        crate::log_error!("backups: the schedule could not be checked: {e}");
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start the backup thread: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn time(s: &str) -> NaiveTime {
        parse_time(s).unwrap()
    }

    fn runs(s: &Schedule, tz: Tz, from: &str, n: usize) -> Vec<String> {
        let mut t = utc(from);
        let mut out = Vec::new();
        for _ in 0..n {
            t = next_run(s, tz, t).unwrap();
            out.push(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        out
    }

    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    #[test]
    fn daily_in_berlin_across_both_changes() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let s = Schedule::Daily { at: time("02:30") };
        assert_eq!(
            runs(&s, BERLIN, "2026-03-27T12:00:00Z", 4),
            [
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // the gap: 03:00 CEST, first instant after it
                "2026-03-30T00:30:00Z", // 02:30 CEST
                "2026-03-31T00:30:00Z",
            ]
        );
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice: once.
        assert_eq!(
            runs(&s, BERLIN, "2026-10-23T12:00:00Z", 4),
            [
                "2026-10-24T00:30:00Z",
                "2026-10-25T00:30:00Z", // the first 02:30 (CEST)
                "2026-10-26T01:30:00Z", // not 01:30Z on the 25th: that is the second 02:30
                "2026-10-27T01:30:00Z",
            ]
        );
        // A time outside the changes is unaffected by them.
        let noon = Schedule::Daily { at: time("12:00") };
        assert_eq!(
            runs(&noon, BERLIN, "2026-03-28T12:00:00Z", 2),
            ["2026-03-29T10:00:00Z", "2026-03-30T10:00:00Z"]
        );
    }

    #[test]
    fn daily_in_new_york_across_both_changes() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        let s = Schedule::Daily { at: time("02:15") };
        assert_eq!(
            runs(&s, NEW_YORK, "2026-03-07T00:00:00Z", 3),
            [
                "2026-03-07T07:15:00Z",
                "2026-03-08T07:00:00Z", // 03:00 EDT
                "2026-03-09T06:15:00Z",
            ]
        );
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        let s = Schedule::Daily { at: time("01:30") };
        assert_eq!(
            runs(&s, NEW_YORK, "2026-10-31T12:00:00Z", 3),
            [
                "2026-11-01T05:30:00Z", // 01:30 EDT, the first
                "2026-11-02T06:30:00Z",
                "2026-11-03T06:30:00Z",
            ]
        );
    }

    #[test]
    fn hourly_runs_every_real_hour_across_changes() {
        let s = Schedule::Hourly { minute: 30 };
        assert_eq!(
            runs(&s, BERLIN, "2026-03-28T23:40:00Z", 4),
            [
                "2026-03-29T00:30:00Z", // 01:30 CET
                "2026-03-29T01:30:00Z", // 03:30 CEST (02:30 does not exist)
                "2026-03-29T02:30:00Z",
                "2026-03-29T03:30:00Z",
            ]
        );
        assert_eq!(
            runs(&s, BERLIN, "2026-10-24T23:00:00Z", 4),
            [
                "2026-10-24T23:30:00Z", // 01:30 CEST
                "2026-10-25T00:30:00Z", // 02:30 CEST
                "2026-10-25T01:30:00Z", // 02:30 CET, the repeated hour
                "2026-10-25T02:30:00Z", // 03:30 CET
            ]
        );
        // A half-hour zone: minute 0 of the local clock is minute 30 in UTC.
        let kolkata: Tz = chrono_tz::Asia::Kolkata;
        assert_eq!(
            runs(
                &Schedule::Hourly { minute: 0 },
                kolkata,
                "2026-01-01T00:00:00Z",
                2
            ),
            ["2026-01-01T00:30:00Z", "2026-01-01T01:30:00Z"]
        );
        // Exactly at a run: the next one, never the same instant again.
        assert_eq!(
            runs(&s, chrono_tz::UTC, "2026-05-01T10:30:00Z", 1),
            ["2026-05-01T11:30:00Z"]
        );
    }

    #[test]
    fn weekly_and_the_year_end() {
        // 2026-03-29 is a Sunday, the day Berlin springs forward.
        let s = Schedule::Weekly {
            day: Weekday::Sun,
            at: time("02:30"),
        };
        assert_eq!(
            runs(&s, BERLIN, "2026-03-20T00:00:00Z", 3),
            [
                "2026-03-22T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-04-05T00:30:00Z",
            ]
        );
        // 2027-01-01 is a Friday.
        let fri = Schedule::Weekly {
            day: Weekday::Fri,
            at: time("09:00"),
        };
        assert_eq!(
            runs(&fri, NEW_YORK, "2026-12-28T00:00:00Z", 2),
            ["2027-01-01T14:00:00Z", "2027-01-08T14:00:00Z"]
        );
        let midnight = Schedule::Daily { at: time("00:00") };
        assert_eq!(
            runs(&midnight, chrono_tz::UTC, "2026-12-31T12:00:00Z", 2),
            ["2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"]
        );
        assert_eq!(
            runs(
                &Schedule::Hourly { minute: 59 },
                BERLIN,
                "2026-12-31T22:58:00Z",
                2
            ),
            ["2026-12-31T22:59:00Z", "2026-12-31T23:59:00Z"]
        );
        assert_eq!(
            next_run(&Schedule::Off, BERLIN, utc("2026-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let ok = |v: serde_json::Value| {
            serde_json::from_value::<BackupSettings>(v)
                .map_err(|e| e.to_string())
                .and_then(|s| s.check())
        };
        assert!(ok(serde_json::json!({})).is_ok());
        assert!(ok(serde_json::json!({"schedule": "weekly", "weekday": "Friday", "time": "23:59", "keep": 0})).is_ok());
        for (v, field) in [
            (
                serde_json::json!({"schedule": "monthly"}),
                "backups.schedule",
            ),
            (
                serde_json::json!({"schedule": "hourly", "minute": 60}),
                "backups.minute",
            ),
            (
                serde_json::json!({"schedule": "daily", "time": "24:00"}),
                "backups.time",
            ),
            (
                serde_json::json!({"schedule": "daily", "time": "3:00"}),
                "backups.time",
            ),
            (
                serde_json::json!({"schedule": "weekly", "weekday": "someday"}),
                "backups.weekday",
            ),
            (serde_json::json!({"keep": 20000}), "backups.keep"),
        ] {
            let e = ok(v.clone()).unwrap_err();
            assert!(e.contains(field), "{v}: {e}");
        }
        assert_eq!(backoff_secs(1), 300);
        assert_eq!(backoff_secs(2), 600);
        assert_eq!(backoff_secs(3), 1200);
        assert_eq!(backoff_secs(40), RETRY_MAX_SECS);
    }
}
