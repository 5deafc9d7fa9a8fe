-- Web accounts: users and their login sessions.
--
-- Login and signup rate limits are kept in memory (see accounts::limits), not here: tenantd is
-- one process, losing the counters on restart costs little, and a table written on every
-- failed attempt would turn a password-guessing flood into a write flood on the database.

CREATE TABLE users (
    -- A random UUID; recorded as `metadata.owner` on the tenants the user owns.
    id                  uuid PRIMARY KEY,
    -- As typed (domain lowercased by accounts::email); uniqueness ignores case, below,
    -- because citext is an extension that is not installed by default.
    email               text NOT NULL CHECK (length(email) <= 254),
    -- The PHC string of an argon2id hash (algorithm, parameters and salt included), so
    -- parameters can be raised later and old hashes still verify.
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    -- `admin` users see every tenant, through the pages and the API.
    role                text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    -- Set once the user followed the verification link; NULL until then.
    email_verified_at   timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- One row per logged-in browser. The cookie holds a 256-bit random token; only its SHA-256
-- is stored, so a leak of this table does not yield usable cookies.
CREATE TABLE sessions (
    id           bytea PRIMARY KEY CHECK (length(id) = 32),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The synchronizer CSRF token of this session (random, hex); forms and the API's
    -- X-CSRF-Token header must carry it on every unsafe request.
    csrf_secret  text NOT NULL,
    -- "Remember me": a persistent cookie and a long idle timeout instead of a browser-session
    -- cookie and a short one.
    remember     boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Moved forward (with expires_at) as the session is used: the expiry slides.
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    -- Shown to the user in a list of their sessions; never used for decisions.
    user_agent   text,
    ip           text
);

CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
