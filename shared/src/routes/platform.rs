//! Platform operator routes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, BearerToken};
use crate::tenants::{self, NewTenant};
use crate::types::{parse_display_text, Email, TenantSlug};

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
    let BearerToken(token) = token?;
    if !state.is_operator(&token).await.map_err(ApiError::internal)? {
        return Err(ApiError::Unauthorized);
    }
    let ApiJson(body) = body?;
    let req = NewTenant {
        slug: TenantSlug::parse(&body.slug).map_err(ApiError::ValidationFailed)?,
        name: parse_display_text(&body.name, "name", 200).map_err(ApiError::ValidationFailed)?,
        admin_email: Email::parse(&body.admin_email).map_err(ApiError::ValidationFailed)?,
    };
    let created = tenants::create_tenant(&state, req).await?;
    Ok((StatusCode::CREATED, Json(json!({"tenant_id": created.tenant_id.as_str(), "slug": created.slug.as_str()}))))
}
