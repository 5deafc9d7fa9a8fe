-- The platform's own tables. Tenant roles get no privileges on any of them: the public
-- schema is closed to PUBLIC at startup (see tenantdb::prepare_database).

-- resourceVersion is one counter across all tenants, so a watcher can resume from "after N".
CREATE SEQUENCE tenant_resource_version;

-- Desired state: one row per tenant. The spec is kept as written (defaults are resolved at
-- reconcile time from the config), so what the user applied is what they read back.
CREATE TABLE tenants (
    name               text PRIMARY KEY,
    -- Opaque id (32 hex); names the Postgres schema and role, never reused.
    uid                text NOT NULL UNIQUE CHECK (uid ~ '^[0-9a-f]{32}$'),
    -- The effective subdomain, kept in its own column so uniqueness is the database's job
    -- and two writers racing for one subdomain cannot both win.
    subdomain          text NOT NULL UNIQUE,
    spec               jsonb NOT NULL,
    labels             jsonb NOT NULL DEFAULT '{}',
    owner              text,
    -- Moves only when the spec changes.
    generation         bigint NOT NULL DEFAULT 1,
    -- Moves on every write to this row.
    resource_version   bigint NOT NULL DEFAULT nextval('tenant_resource_version'),
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Set by delete; the reconciler tears down, then removes the row.
    deletion_timestamp timestamptz,
    finalizers         text[] NOT NULL DEFAULT '{}'
);

CREATE INDEX tenants_owner ON tenants (owner) WHERE owner IS NOT NULL;

-- Observed state, written only by the reconciler. A separate table so that status writes do
-- not raise the spec NOTIFY and wake the reconciler that wrote them.
CREATE TABLE tenant_status (
    name       text PRIMARY KEY REFERENCES tenants (name) ON DELETE CASCADE,
    status     jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The deployment log. Not tied to the tenants row: the history of a deleted tenant stays
-- readable. Repeats of the same event fold into `count`/`last_at` (as Kubernetes events do),
-- so a tenant failing in backoff does not flood the table.
CREATE TABLE tenant_events (
    id          bigserial PRIMARY KEY,
    tenant_name text NOT NULL,
    tenant_uid  text NOT NULL,
    action      text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('Normal', 'Warning')),
    reason      text NOT NULL,
    message     text NOT NULL,
    count       integer NOT NULL DEFAULT 1,
    first_at    timestamptz NOT NULL DEFAULT now(),
    last_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tenant_events_by_tenant ON tenant_events (tenant_name, id DESC);

-- The generated password of each tenant's role, so DATABASE_URL stays stable across container
-- recreation, and the SCRAM verifier sent to the server, so a changed password is detected
-- by comparing pg_authid.rolpassword with it.
CREATE TABLE tenant_credentials (
    uid        text PRIMARY KEY REFERENCES tenants (uid) ON DELETE CASCADE,
    password   text NOT NULL,
    verifier   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every change to a tenant row wakes the reconciler with the tenant's name.
CREATE FUNCTION tenants_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantd_tenants', COALESCE(NEW.name, OLD.name));
    RETURN NULL;
END;
$$;

CREATE TRIGGER tenants_notify
    AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_notify();

-- Status changes go to their own channel, for watchers (API, web) but not the reconciler.
CREATE FUNCTION tenant_status_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantd_status', NEW.name);
    RETURN NULL;
END;
$$;

CREATE TRIGGER tenant_status_notify
    AFTER INSERT OR UPDATE ON tenant_status
    FOR EACH ROW EXECUTE FUNCTION tenant_status_notify();
