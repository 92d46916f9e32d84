-- 8: portal usernames are unique without case (apps take Alice and alice for one
-- account). Before this runs, migrate.rs gives later holders of a shared name distinct
-- ones (db::users::rename_duplicates): the oldest account keeps the name.
CREATE UNIQUE INDEX users_username ON users(username COLLATE NOCASE);
