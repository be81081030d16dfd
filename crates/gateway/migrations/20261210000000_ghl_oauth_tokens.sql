-- GHL OAuth tokens of the Marketplace app, one row per sub-account (location) it was
-- installed in. Portable SQL, like every migration here.
--
-- GHL rotates the refresh token on every use, so a refresh replaces `access_token`,
-- `refresh_token` and `expires_at_ms` together in one UPDATE conditioned on the refresh
-- token that was used: of two gateways refreshing at once, only one rotation lands and
-- the other reads the winner's tokens back. Tokens are stored as GHL issued them (not
-- encrypted); `scopes` is GHL's space-separated list.
CREATE TABLE ghl_oauth_tokens (
    location_id TEXT NOT NULL,
    access_token TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    scopes TEXT NOT NULL,
    company_id TEXT NULL,
    user_id TEXT NULL,
    installed_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    CONSTRAINT ghl_oauth_tokens_pkey PRIMARY KEY (location_id)
);
