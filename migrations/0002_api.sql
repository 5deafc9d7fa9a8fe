-- For the HTTP API and the specs/ directory sync.

-- Where a tenant came from: NULL for the API, CLI and web, or 'file:<path>' for a tenant
-- applied from the watched specs/ directory (which then owns it: other writers get 409).
ALTER TABLE tenants ADD COLUMN source text;

-- Status changes take a resourceVersion from the same counter, so a watch can resume from
-- "after N" and see status changes (the wizard's progress) as well as spec changes.
ALTER TABLE tenant_status
    ADD COLUMN resource_version bigint NOT NULL DEFAULT nextval('tenant_resource_version');

-- Deleted tenants leave a tombstone, so a watch resuming from an old resourceVersion learns
-- of deletions it missed. Pruned by age (see store::watch).
CREATE TABLE tenant_tombstones (
    name             text NOT NULL,
    uid              text NOT NULL,
    -- So a user's watch learns of the deletion of its own tenants only.
    owner            text,
    resource_version bigint NOT NULL DEFAULT nextval('tenant_resource_version'),
    deleted_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tenant_tombstones_by_version ON tenant_tombstones (resource_version);

CREATE FUNCTION tenants_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_tombstones (name, uid, owner) VALUES (OLD.name, OLD.uid, OLD.owner);
    RETURN NULL;
END;
$$;

CREATE TRIGGER tenants_tombstone
    AFTER DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_tombstone();

-- Up to which resourceVersion tombstones were pruned: a watch resuming from before that
-- might miss deletions, so it must start over with a full list.
CREATE TABLE tenant_tombstone_prunes (
    pruned_up_to bigint NOT NULL,
    pruned_at    timestamptz NOT NULL DEFAULT now()
);
