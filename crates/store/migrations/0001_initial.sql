-- Portable SQL: runs unchanged on SQLite and PostgreSQL. Times are Unix milliseconds (BIGINT);
-- ids and JSON bodies are TEXT; secrets are sealed (AEAD) TEXT, never plaintext.

CREATE TABLE calls (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    leg_count BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX calls_by_state ON calls (state);

CREATE TABLE call_legs (
    leg_id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (id),
    position BIGINT NOT NULL,
    platform TEXT NOT NULL,
    state TEXT NOT NULL,
    platform_ref TEXT
);
CREATE INDEX call_legs_by_call ON call_legs (call_id);

CREATE TABLE cdrs (
    call_id TEXT PRIMARY KEY REFERENCES calls (id),
    tenant_id TEXT NOT NULL,
    ended_at_ms BIGINT NOT NULL,
    cause TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX cdrs_by_end ON cdrs (ended_at_ms);

CREATE TABLE installations (
    platform TEXT NOT NULL,
    external_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    installed_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    PRIMARY KEY (platform, external_id)
);

CREATE TABLE user_links (
    tenant_id TEXT NOT NULL,
    slack_team TEXT NOT NULL,
    slack_user TEXT NOT NULL,
    teams_tenant TEXT NOT NULL,
    teams_user TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (slack_team, slack_user),
    UNIQUE (teams_tenant, teams_user)
);

CREATE TABLE oauth_tokens (
    platform TEXT NOT NULL,
    owner TEXT NOT NULL,
    sealed TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at_ms BIGINT,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (platform, owner)
);

CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE event_inbox (
    platform TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    completed_at_ms BIGINT,
    PRIMARY KEY (platform, event_id)
);
CREATE INDEX event_inbox_pending ON event_inbox (completed_at_ms, received_at_ms);

CREATE TABLE presence_mirror (
    target TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    fence BIGINT NOT NULL
);
