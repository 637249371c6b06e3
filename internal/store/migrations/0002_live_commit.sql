-- A release deployed again unchanged from a later commit stays the same
-- release; the service records that commit as live while the release runs.
ALTER TABLE services ADD COLUMN commit_sha TEXT NOT NULL DEFAULT '';
ALTER TABLE services ADD COLUMN commit_release INTEGER NOT NULL DEFAULT 0;
