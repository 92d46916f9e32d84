//! Section "backups": the backup schedule (the document is defined and read in
//! backup/schedule.rs, which runs it).

use crate::backup::schedule::BackupSettings;
use crate::settings::Section;

impl Section for BackupSettings {
    const NAME: &'static str = "backups";

    fn check(&self) -> std::result::Result<(), String> {
        BackupSettings::check(self)
    }
}
