-- resourceVersions become visible in the order they are handed out.
--
-- A watch resumes from "after N": it reads the changes with a version above N and then
-- remembers the greatest it saw. With a bare sequence, two writers can commit out of order
-- (A takes 10, B takes 11, B commits, a watcher reads 11, then A commits 10), and the watcher
-- never sees A's change. So every writer takes the next version through this function, which
-- holds a transaction-level advisory lock until commit: the next version is handed out only
-- after the previous holder committed or rolled back. Writes to tenants serialize for the
-- instant between taking a version and committing; each of them is one short statement or a
-- short transaction that takes the lock first (see store::lock_resource_versions).

-- The lock's key: "tenantd resource versions", any fixed bigint unique to this purpose.
CREATE FUNCTION tenantd_resource_version_lock_key() RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$ SELECT 7306214871046553601::bigint $$;

CREATE FUNCTION tenantd_next_resource_version() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(tenantd_resource_version_lock_key());
    RETURN nextval('tenant_resource_version');
END;
$$;

ALTER TABLE tenants ALTER COLUMN resource_version SET DEFAULT tenantd_next_resource_version();
ALTER TABLE tenant_status ALTER COLUMN resource_version SET DEFAULT tenantd_next_resource_version();
ALTER TABLE tenant_tombstones ALTER COLUMN resource_version SET DEFAULT tenantd_next_resource_version();

-- A watch that starts from a full list starts from the greatest committed version
-- (store::current_version): these make that three index lookups.
CREATE INDEX tenants_by_version ON tenants (resource_version);
CREATE INDEX tenant_status_by_version ON tenant_status (resource_version);
