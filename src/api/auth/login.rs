//! PIN login through plex.tv: `POST /api/auth/plex/pin` and `GET /api/auth/plex/pin/:id`.
//!
//! On success the account is fetched, the user stored (account token sealed), a fresh session
//! started (any session the browser already had is ended and its tickets revoked, against
//! fixation), and the user's servers synced **before** answering, so the first Plex call after
//! login works. Polls are rate limited per client IP; plex.tv hiccups read as "still pending",
//! as the frontend expects.

use http::header::{HeaderValue, RETRY_AFTER, SET_COOKIE};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::json;

use crate::api::respond::json_response;
use crate::api::session::{cookie_attributes, signed_in_response};
use crate::api::state::AppState;
use crate::auth::admission::{self, AdmissionError, Admitted};
use crate::auth::cookie;
use crate::db;
use crate::http::json::read_json;
use crate::http::{ApiError, Body, PathParams, RequestContext};
use crate::plex::sync::sync_servers;

fn limit(req: &Request<Incoming>, state: &AppState) -> Result<(), ApiError> {
    let Some(ip) = req
        .extensions()
        .get::<RequestContext>()
        .map(|c| crate::http::ratelimit::network_of(c.client_ip))
    else {
        return Ok(());
    };
    state.pin_limiter().check(&ip).map_err(|wait| {
        let secs = wait.as_secs().max(1);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many sign-in requests; retry in {secs} s"),
        )
        .with_header(RETRY_AFTER, HeaderValue::from(secs))
    })
}

fn valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PinBody {
    client_id: Option<String>,
}

/// `POST /api/auth/plex/pin` `{clientId?}` → `{id, code, clientId, authUrl}`.
pub async fn create_pin(
    req: Request<Incoming>,
    state: AppState,
) -> Result<Response<Body>, ApiError> {
    limit(&req, &state)?;
    // The pin cookie is scoped like the session cookie (SameSite=Lax unless the deployment
    // needs a cross-site frontend).
    let attrs = cookie_attributes(&req, &state);
    let body: PinBody = read_json(req).await?;
    let client_id = match body.client_id.filter(|c| !c.is_empty()) {
        Some(c) if valid_client_id(&c) => c,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_client_id",
                "clientId must be 1-128 letters, digits, '-', '_' or '.'",
            ));
        }
        None => uuid_like(),
    };
    let pin = state.plextv().create_pin(&client_id).await?;
    let mut resp = json_response(
        StatusCode::OK,
        &json!({
            "id": pin.id,
            "code": pin.code,
            "clientId": client_id,
            "authUrl": state.plextv().auth_url(&client_id, &pin.code),
        }),
    );
    // Only this browser may complete this sign-in (login CSRF): the poll must carry it back.
    resp.headers_mut().insert(
        SET_COOKIE,
        cookie::set_pin(
            &state.logins().pin_binding(pin.id, &client_id),
            cookie::PIN_MAX_AGE_SECS,
            attrs,
        ),
    );
    Ok(resp)
}

/// `GET /api/auth/plex/pin/:id?clientId=…`.
pub async fn poll_pin(req: Request<Incoming>, state: AppState) -> Result<Response<Body>, ApiError> {
    limit(&req, &state)?;
    let pin_id: i64 = req
        .extensions()
        .get::<PathParams>()
        .and_then(|p| p.get("id"))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad_request("invalid_pin_id", "the PIN id must be a number"))?;
    let client_id = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("clientId="))
        .and_then(|v| crate::util::percent_decode(v, true))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_client_id",
                "clientId is required (the one the PIN was created with)",
            )
        })?;
    if !valid_client_id(&client_id) {
        return Err(ApiError::bad_request(
            "invalid_client_id",
            "clientId is not a valid client id",
        ));
    }
    // Login CSRF: only the browser that created the PIN may complete it. Refused before any
    // call to plex.tv and before the caller's own session is touched.
    if !state.logins().pin_bound(req.headers(), pin_id, &client_id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "pin_not_found",
            "no sign-in with this PIN was started in this browser; start again",
        ));
    }
    let pending = || {
        json_response(
            StatusCode::OK,
            &json!({"authenticated": false, "pending": true}),
        )
    };
    let pin = match state.plextv().poll_pin(pin_id, &client_id).await {
        Ok(pin) => pin,
        Err(e) => {
            tracing::debug!(error = %e, "PIN poll did not succeed; still pending");
            return Ok(pending());
        }
    };
    let Some(token) = pin.auth_token.filter(|t| !t.is_empty()) else {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"authenticated": false}),
        ));
    };
    let account = match state.plextv().account(&token, &client_id).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "plex.tv account lookup failed after PIN approval");
            return Ok(pending());
        }
    };

    // Who may sign in: decided before anything of the account is stored.
    match admission::admit(
        state.db(),
        state.plextv(),
        &state.config().auth,
        &account,
        &token,
        &client_id,
    )
    .await
    {
        Ok(Admitted::Owner { first: true }) => {
            tracing::info!(
                plex_account_id = account.id,
                "first sign-in: this account is now the owner"
            );
        }
        Ok(_) => {}
        Err(AdmissionError::Refused(why)) => {
            tracing::info!(plex_account_id = account.id, reason = %why, "sign-in refused");
            return Err(ApiError::forbidden("signin_not_allowed", why));
        }
        Err(AdmissionError::PlexTv(e)) => return Err(e.into()),
        Err(AdmissionError::Db(e)) => return Err(e.into()),
    }

    let secrets = state.secrets().clone();
    let subscription = account
        .subscription
        .as_ref()
        .map(|s| serde_json::to_value(s).unwrap_or_default());
    let account_token = token.clone();
    let user = state
        .db()
        .write(move |conn| {
            let username = account
                .username
                .clone()
                .filter(|u| !u.is_empty())
                .or(account.title.clone())
                .unwrap_or_else(|| format!("plex-{}", account.id));
            db::users::upsert_user(
                conn,
                &db::users::NewUser {
                    plex_id: account.id,
                    username: &username,
                    email: account.email.as_deref(),
                    thumb: account.thumb.as_deref(),
                    title: account.title.as_deref(),
                    has_password: account.has_password,
                    subscription: subscription.as_ref(),
                    plex_token: &account_token,
                },
                &secrets,
                crate::util::unix_now(),
            )
        })
        .await?;

    // A session the browser already had ends here (fixation), with every ticket it minted.
    if let Some(old) = state.logins().authenticate(req.headers()).await? {
        state.keeper().revoke_login(old.hash, "relogin").await?;
        state.logins().destroy(old.hash).await?;
    }
    if let Err(e) = sync_servers(
        state.db(),
        state.secrets(),
        state.plextv(),
        state.servers(),
        user.id,
        &token,
        state.identity().client_identifier(),
    )
    .await
    {
        // Login still succeeds; the servers list retries the sync.
        tracing::warn!(user_id = user.id, error = %e, "server sync after login failed");
    }
    tracing::info!(user_id = user.id, "signed in with a plex.tv PIN");
    let mut resp = signed_in_response(&req, &state, &user).await?;
    // The PIN is spent: drop its cookie (after the session cookie, which stays first).
    resp.headers_mut().append(
        SET_COOKIE,
        cookie::set_pin("", 0, cookie_attributes(&req, &state)),
    );
    Ok(resp)
}

/// A random version-4-shaped UUID for a client that sent no client id.
fn uuid_like() -> String {
    let mut b = crate::util::random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::util::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
