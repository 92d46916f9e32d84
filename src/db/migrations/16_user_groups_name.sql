-- 17: LDAP `memberOf=` finds who holds a group by its name (without case) in an index.
CREATE INDEX user_groups_name ON user_groups(name COLLATE NOCASE, user_id);
