-- Email verification: one row per link sent. `users.email_verified_at` (0003) records the
-- outcome; this table holds the links.
--
-- The link carries a 256-bit random token; only its SHA-256 is stored, so a leak of this
-- table yields no usable link (as for sessions). A link lasts 24 hours and works once: using
-- it sets `used_at`, in the same transaction that marks the user verified. Rows are kept
-- after use (and swept a while after expiry) so a second click can be told "already used"
-- rather than "unknown".
CREATE TABLE email_verifications (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address the link was sent to: a link verifies that address only, so a link sent
    -- before an address change cannot verify the new one.
    email      text NOT NULL CHECK (length(email) <= 254),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set when the link was followed; a used link is refused.
    used_at    timestamptz
);

CREATE INDEX email_verifications_by_user ON email_verifications (user_id);
CREATE INDEX email_verifications_by_expiry ON email_verifications (expires_at);
