//! Messaging routes (API.md "Messaging"): parse, call `services::messaging::conversations`,
//! answer.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::domain::types::{ConversationId, MessageId};
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, IdPath, Page, PageQuery};
use crate::http::state::AppState;
use crate::services::messaging::conversations::{
    self, ConversationPage, Created, MessagePage, Sent, DEFAULT_PAGE, MAX_PAGE,
};

#[derive(Deserialize)]
pub struct NewConversation {
    #[serde(default, deserialize_with = "crate::domain::types::present")]
    title: Option<String>,
    member_ids: Vec<String>,
}

/// `POST /v1/conversations` → 201 `{"conversation_id"}`.
pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(body): ApiJson<NewConversation>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let created = conversations::create(&state, &p, body.title, body.member_ids).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/conversations?limit=&cursor=` → a page of the caller's conversations.
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<ConversationPage>, ApiError> {
    let page = Page::parse(query, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(conversations::list(&state, &p, page.limit, page.cursor).await?))
}

#[derive(Deserialize)]
pub struct NewMessage {
    body: String,
    #[serde(default, deserialize_with = "crate::domain::types::present")]
    attachment_ids: Option<Vec<String>>,
}

/// `POST /v1/conversations/{id}/messages` → 201 `{"message_id", "sent_at"}`.
pub async fn send(
    State(state): State<AppState>,
    p: Principal,
    IdPath(cid): IdPath<ConversationId>,
    ApiJson(body): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    let sent = conversations::send(&state, &p, &cid, body.body, body.attachment_ids.unwrap_or_default()).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

/// `GET /v1/conversations/{id}/messages?limit=&cursor=` → newest first.
pub async fn list_messages(
    State(state): State<AppState>,
    p: Principal,
    IdPath(cid): IdPath<ConversationId>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<MessagePage>, ApiError> {
    let page = Page::parse(query, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(conversations::list_messages(&state, &p, &cid, page.limit, page.cursor).await?))
}

#[derive(Deserialize)]
pub struct ReadBody {
    message_id: String,
}

/// `POST /v1/conversations/{id}/read` `{"message_id"}` → 204; the read position only moves
/// forward.
pub async fn mark_read(
    State(state): State<AppState>,
    p: Principal,
    IdPath(cid): IdPath<ConversationId>,
    ApiJson(body): ApiJson<ReadBody>,
) -> Result<StatusCode, ApiError> {
    conversations::mark_read(&state, &p, &cid, &body.message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/conversations/{id}/messages/{message_id}` → 204: the sender recalls a message.
pub async fn recall(
    State(state): State<AppState>,
    p: Principal,
    IdPath((cid, mid)): IdPath<(ConversationId, MessageId)>,
) -> Result<StatusCode, ApiError> {
    conversations::recall(&state, &p, &cid, &mid).await?;
    Ok(StatusCode::NO_CONTENT)
}
