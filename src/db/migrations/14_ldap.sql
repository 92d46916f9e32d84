-- 14: the LDAP directory's credentials, stored only as SHA-256 digests of random secrets.
-- Service accounts (cn=NAME,ou=services,<base>) that applications bind as to search.
CREATE TABLE ldap_services (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_digest BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE UNIQUE INDEX ldap_services_name ON ldap_services(name COLLATE NOCASE);

-- App passwords a person made on /home to bind as uid=<username>,ou=people,<base>.
CREATE TABLE app_passwords (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    secret_digest BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX app_passwords_user ON app_passwords(user_id);
