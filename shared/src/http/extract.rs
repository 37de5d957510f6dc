//! Request extractors that turn every malformed request into the API.md error of its kind:
//! JSON bodies (400/413/415), bearer tokens (401).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
use crate::services::error::ServiceError;

/// A JSON body; `Content-Type: application/json` required.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::Service(ServiceError::PayloadTooLarge)
            } else {
                ApiError::Service(ServiceError::InvalidRequest("the request body could not be read".into()))
            }
        })?;
        // API.md's bodies are objects; serde would also fill a struct from an array in field
        // order, which no client means.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::Service(ServiceError::InvalidRequest("the body must be a JSON object".into())));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

/// `Content-Type: application/json` (or `application/<something>+json`), as axum's own check.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    match rej {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::JsonDataError(e) => {
            ApiError::Service(ServiceError::InvalidRequest(data_error_message(&e.body_text())))
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::Service(ServiceError::InvalidRequest("the body is not valid JSON (UTF-8)".into()))
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::Service(ServiceError::PayloadTooLarge),
        _ => ApiError::Service(ServiceError::InvalidRequest("the request body could not be read".into())),
    }
}

/// serde's messages can quote the offending value (which may be a password): keep only the
/// ones that name a field, never a value.
fn data_error_message(text: &str) -> String {
    let detail = text.split(": ").skip(1).collect::<Vec<_>>().join(": ");
    let detail = detail.split(" at line ").next().unwrap_or_default();
    if detail.starts_with("missing field `") || detail.starts_with("unknown field `") {
        detail.to_owned()
    } else {
        "a field has the wrong type or an invalid value".to_owned()
    }
}

/// Typed ids from the path (`IdPath<ConversationId>`, `IdPath<(ConversationId, MessageId)>`):
/// a malformed one is 400 `invalid_request` before the handler runs.
pub struct IdPath<T>(pub T);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(IdPath(v)),
            Err(_) => Err(ApiError::Service(ServiceError::InvalidRequest("bad id".into()))),
        }
    }
}

/// A page request: `limit` (1..=`max`, `default` when absent) and the opaque `cursor`.
pub struct Page {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Page {
    pub fn parse(
        query: Result<axum::extract::Query<PageQuery>, axum::extract::rejection::QueryRejection>,
        default: usize,
        max: usize,
    ) -> Result<Page, ApiError> {
        let axum::extract::Query(q) =
            query.map_err(|_| ApiError::Service(ServiceError::InvalidRequest("bad query string".into())))?;
        Ok(Page { limit: page_limit(q.limit.as_deref(), default, max)?, cursor: q.cursor })
    }
}

/// `?limit=&cursor=` of a paged listing (both as text, validated by the handler).
#[derive(serde::Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

/// A `limit` query parameter: `default` when absent, 400 unless it is 1..=`max`.
pub fn page_limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    match raw {
        None => Ok(default),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::Service(ServiceError::InvalidRequest(format!("limit must be 1..={max}")))),
    }
}

/// The raw bearer token of an `Authorization: Bearer <token>` header.
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BearerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Service(ServiceError::Unauthorized))?;
        let (scheme, token) = value.split_once(' ').ok_or(ApiError::Service(ServiceError::Unauthorized))?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 4096 {
            return Err(ApiError::Service(ServiceError::Unauthorized));
        }
        Ok(BearerToken(token.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::data_error_message;

    #[test]
    fn serde_messages_never_echo_values() {
        assert_eq!(
            data_error_message(
                "Failed to deserialize the JSON body into the target type: missing field `slug` at line 1 column 2"
            ),
            "missing field `slug`"
        );
        let m = data_error_message(
            "Failed to deserialize the JSON body into the target type: password: invalid type: string \"hunter2\", expected u32 at line 1 column 9",
        );
        assert!(!m.contains("hunter2"));
    }
}
