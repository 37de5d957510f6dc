//! Attachment routes (API.md "Messaging"): the raw bytes in and out, streamed through
//! `services::messaging::attachments`, which seals and opens them.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::TryStreamExt;

use crate::domain::types::AttachmentId;
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::IdPath;
use crate::http::state::AppState;
use crate::services::error::ServiceError;
use crate::services::messaging::attachments::{self, NewAttachment, MAX_UPLOAD};

/// `POST /v1/attachments` (raw bytes; `Content-Type`; optional `X-Filename`) → 201
/// `{"attachment_id", "size", "sha256"}`.
pub async fn upload(
    State(state): State<AppState>,
    p: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD) {
        return Err(ApiError::Service(ServiceError::PayloadTooLarge));
    }
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream");
    if content_type.len() > 255 || content_type.chars().any(char::is_control) {
        return Err(ApiError::Service(ServiceError::InvalidRequest("bad Content-Type".into())));
    }
    let filename = match headers.get("x-filename") {
        None => None,
        Some(v) => {
            let name = v.to_str().map_err(|_| {
                ApiError::Service(ServiceError::InvalidRequest(
                    "X-Filename must be visible ASCII (percent-encode others)".into(),
                ))
            })?;
            Some(
                crate::domain::types::parse_display_text(name, "X-Filename", 255)
                    .map_err(|m| ApiError::Service(ServiceError::ValidationFailed(m)))?,
            )
        }
    };
    let body = Box::pin(body.into_data_stream().map_err(std::io::Error::other));
    let new = NewAttachment { content_type: content_type.to_owned(), filename, body };
    let stored = attachments::upload(&state, &p, new).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

/// RFC 6266 `filename*` value.
fn disposition(name: &str) -> String {
    let enc: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename*=UTF-8''{enc}")
}

/// `GET /v1/attachments/{id}` → the bytes, with their `Content-Type`.
pub async fn download(
    State(state): State<AppState>,
    p: Principal,
    IdPath(aid): IdPath<AttachmentId>,
) -> Result<Response, ApiError> {
    let file = attachments::download(&state, &p, &aid).await?;
    let mut resp = Response::new(Body::from_stream(file.body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&file.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Some(size) = file.size {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    // Always a download, never rendered: an uploaded HTML or SVG file must not run in the
    // app's origin, whatever type its uploader declared.
    let disposition = file.filename.map(|n| disposition(&n)).unwrap_or_else(|| "attachment".into());
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    Ok(resp)
}
