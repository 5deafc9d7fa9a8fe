-- The signup wizard's sessions: where a visitor is in the six steps, so a wizard can be
-- resumed (same browser, within the hour) and steps cannot be skipped.
--
-- The cookie holds a 256-bit random token; only its SHA-256 is stored, as for login sessions.
-- A session expires one hour after its last use (expires_at slides with every step).
CREATE TABLE signup_sessions (
    id                 bytea PRIMARY KEY CHECK (length(id) = 32),
    -- Set by step 1 (the account): the user the tenant will belong to.
    user_id            uuid REFERENCES users (id) ON DELETE CASCADE,
    -- Step 2.
    intended_use       text CHECK (intended_use IN ('study', 'testing', 'learning', 'other')),
    intended_use_other text CHECK (length(intended_use_other) <= 200),
    -- Step 3: chosen and found free (it is reserved only when step 5 creates the tenant).
    subdomain          text CHECK (length(subdomain) <= 63),
    -- Step 4.
    terms_accepted_at  timestamptz,
    -- Step 5: the tenant this wizard created; from then on only steps 5 and 6 are shown.
    tenant_name        text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL
);

CREATE INDEX signup_sessions_by_expiry ON signup_sessions (expires_at);
