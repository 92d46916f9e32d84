-- Version 5 -> 6: an uploaded logo.
-- Images an owner uploaded for the pages (the logo), served by the portal itself.
CREATE TABLE branding_files (
    name         TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data         BLOB NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
