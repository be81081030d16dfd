//! GHL OAuth tokens: what the Marketplace app's install left for one location, and every
//! rotation since.
//!
//! GHL's refresh tokens are single-use: each refresh answers a new access token and a new
//! refresh token, and the old refresh token stops working. Losing the new pair means the
//! app must be installed again, so a rotation is one `UPDATE` of the whole pair,
//! conditioned on the refresh token that was spent: two gateways sharing a store can never
//! both record a rotation of one token, and the one that loses reads the winner's back.

use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// The tokens of one location, as GHL's token endpoint issued them. `Debug` shows no
/// token.
#[derive(Debug, Clone)]
pub struct GhlOAuthTokens {
    /// The sub-account the tokens are for.
    pub location_id: String,
    /// The bearer token of API calls.
    pub access_token: SecretString,
    /// The single-use token that buys the next pair.
    pub refresh_token: SecretString,
    /// When the access token expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
    /// The scopes GHL granted.
    pub scopes: Vec<String>,
    /// The agency (company) the location belongs to, when GHL said.
    pub company_id: Option<String>,
    /// The user who installed the app, when GHL said.
    pub user_id: Option<String>,
}

impl Store {
    /// The stored tokens of a location; `None` when the app was never installed there.
    pub async fn ghl_oauth_tokens(
        &self,
        location_id: &str,
    ) -> Result<Option<GhlOAuthTokens>, StoreError> {
        const OPERATION: &str = "ghl_oauth_tokens";
        let row = sqlx::query(
            "SELECT location_id, access_token, refresh_token, expires_at_ms, scopes, \
             company_id, user_id FROM ghl_oauth_tokens WHERE location_id = $1",
        )
        .bind(location_id.to_owned())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.query_error(OPERATION, e))?;
        row.map(|row| self.tokens_from_row(OPERATION, &row))
            .transpose()
    }

    /// Stores the tokens of a fresh install, replacing whatever the location held (an
    /// install again starts a new chain of refresh tokens).
    pub async fn put_ghl_oauth_tokens(
        &self,
        tokens: &GhlOAuthTokens,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ghl_oauth_tokens (location_id, access_token, refresh_token, \
             expires_at_ms, scopes, company_id, user_id, installed_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (location_id) DO UPDATE SET access_token = excluded.access_token, \
             refresh_token = excluded.refresh_token, expires_at_ms = excluded.expires_at_ms, \
             scopes = excluded.scopes, company_id = excluded.company_id, \
             user_id = excluded.user_id, installed_at_ms = excluded.installed_at_ms, \
             updated_at_ms = excluded.updated_at_ms",
        )
        .bind(tokens.location_id.clone())
        .bind(tokens.access_token.expose_secret().to_owned())
        .bind(tokens.refresh_token.expose_secret().to_owned())
        .bind(tokens.expires_at_ms)
        .bind(tokens.scopes.join(" "))
        .bind(tokens.company_id.clone())
        .bind(tokens.user_id.clone())
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("put_ghl_oauth_tokens", e))?;
        Ok(())
    }

    /// Records a refresh: the access token, refresh token, expiry and scopes of `rotated`
    /// replace the location's, in one statement, only if the location still holds `spent`
    /// (the refresh token the refresh used). `false` means another writer rotated first:
    /// nothing was changed, and the caller reads the winner's tokens back.
    pub async fn rotate_ghl_oauth_tokens(
        &self,
        spent: &SecretString,
        rotated: &GhlOAuthTokens,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE ghl_oauth_tokens SET access_token = $3, refresh_token = $4, \
             expires_at_ms = $5, scopes = $6, updated_at_ms = $7 \
             WHERE location_id = $1 AND refresh_token = $2",
        )
        .bind(rotated.location_id.clone())
        .bind(spent.expose_secret().to_owned())
        .bind(rotated.access_token.expose_secret().to_owned())
        .bind(rotated.refresh_token.expose_secret().to_owned())
        .bind(rotated.expires_at_ms)
        .bind(rotated.scopes.join(" "))
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| self.query_error("rotate_ghl_oauth_tokens", e))?;
        Ok(result.rows_affected() == 1)
    }

    fn tokens_from_row(
        &self,
        operation: &'static str,
        row: &AnyRow,
    ) -> Result<GhlOAuthTokens, StoreError> {
        let field = |e| self.query_error(operation, e);
        let scopes: String = row.try_get("scopes").map_err(field)?;
        let access: String = row.try_get("access_token").map_err(field)?;
        let refresh: String = row.try_get("refresh_token").map_err(field)?;
        Ok(GhlOAuthTokens {
            location_id: row.try_get("location_id").map_err(field)?,
            access_token: access.into(),
            refresh_token: refresh.into(),
            expires_at_ms: row.try_get("expires_at_ms").map_err(field)?,
            scopes: scopes.split_whitespace().map(str::to_owned).collect(),
            company_id: row.try_get("company_id").map_err(field)?,
            user_id: row.try_get("user_id").map_err(field)?,
        })
    }
}
