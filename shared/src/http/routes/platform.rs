//! Platform operator routes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::types::{parse_display_text, Email, TenantSlug};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, BearerToken};
use crate::http::state::AppState;
use crate::services::error::ServiceError;
use crate::services::tenancy::platform::{self, KeyStatus, Rotated};
use crate::services::tenancy::tenants::{self, NewTenant};

#[derive(Deserialize)]
pub struct CreateTenantBody {
    slug: String,
    name: String,
    admin_email: String,
}

/// `POST /v1/platform/tenants` (operator token) → 201 `{"tenant_id", "slug"}`.
pub async fn create_tenant(
    State(state): State<AppState>,
    token: Result<BearerToken, ApiError>,
    body: Result<ApiJson<CreateTenantBody>, ApiError>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Authenticate before looking at the body, so an outsider learns nothing from it.
    operator(&state, token).await?;
    let ApiJson(body) = body?;
    let req = NewTenant {
        slug: TenantSlug::parse(&body.slug).map_err(|m| ApiError::Service(ServiceError::ValidationFailed(m)))?,
        name: parse_display_text(&body.name, "name", 200)
            .map_err(|m| ApiError::Service(ServiceError::ValidationFailed(m)))?,
        admin_email: Email::parse(&body.admin_email)
            .map_err(|m| ApiError::Service(ServiceError::ValidationFailed(m)))?,
    };
    let created = tenants::create_tenant(&state, req).await?;
    Ok((StatusCode::CREATED, Json(json!({"tenant_id": created.tenant_id.as_str(), "slug": created.slug.as_str()}))))
}

async fn operator(state: &AppState, token: Result<BearerToken, ApiError>) -> Result<(), ApiError> {
    let BearerToken(token) = token?;
    if state.is_operator(&token).await.map_err(ApiError::internal)? {
        Ok(())
    } else {
        Err(ApiError::Service(ServiceError::Unauthorized))
    }
}

/// `POST /v1/platform/tenants/{tenant_id}/keys/rotate` (operator token) → 202
/// `{"tenant_id", "key_version"}`: new writes use the new data key at once (other processes
/// within a minute); re-encryption of older data is queued.
pub async fn rotate_tenant_key(
    State(state): State<AppState>,
    token: Result<BearerToken, ApiError>,
    Path(tenant_id): Path<String>,
) -> Result<(StatusCode, Json<Rotated>), ApiError> {
    operator(&state, token).await?;
    Ok((StatusCode::ACCEPTED, Json(platform::rotate_key(&state, &tenant_id).await?)))
}

/// `GET /v1/platform/tenants/{tenant_id}/keys` (operator token) → `{"tenant_id",
/// "current_version", "reencrypted_through", "versions": [{"version", "created_at"}]}`.
pub async fn tenant_keys(
    State(state): State<AppState>,
    token: Result<BearerToken, ApiError>,
    Path(tenant_id): Path<String>,
) -> Result<Json<KeyStatus>, ApiError> {
    operator(&state, token).await?;
    Ok(Json(platform::key_status(&state, &tenant_id).await?))
}

/// `GET /v1/platform/tenants?limit=&cursor=` (operator token) → a page of tenants.
pub async fn list_tenants(
    State(state): State<AppState>,
    token: Result<BearerToken, ApiError>,
    query: Result<axum::extract::Query<crate::http::extract::PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<platform::TenantPage>, ApiError> {
    operator(&state, token).await?;
    let page = crate::http::extract::Page::parse(query, 50, 100)?;
    Ok(Json(platform::list_tenants(&state, page.limit, page.cursor).await?))
}

/// `POST /v1/platform/tenants/{tenant_id}/disable` (operator token) → 200 the tenant.
pub async fn disable_tenant(
    State(state): State<AppState>,
    token: Result<BearerToken, ApiError>,
    Path(tenant_id): Path<String>,
) -> Result<Json<platform::TenantView>, ApiError> {
    operator(&state, token).await?;
    Ok(Json(platform::set_disabled(&state, &tenant_id, true).await?))
}

/// `POST /v1/platform/tenants/{tenant_id}/enable` (operator token) → 200 the tenant.
pub async fn enable_tenant(
    State(state): State<AppState>,
    token: Result<BearerToken, ApiError>,
    Path(tenant_id): Path<String>,
) -> Result<Json<platform::TenantView>, ApiError> {
    operator(&state, token).await?;
    Ok(Json(platform::set_disabled(&state, &tenant_id, false).await?))
}
