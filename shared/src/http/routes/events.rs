//! Event app and CMS routes (API.md "Events"): parse, call `services::events`, answer.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use crate::domain::types::{present, EventId, SessionId};
use crate::http::access::Principal;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, IdPath, Page, PageQuery};
use crate::http::state::AppState;
use crate::services::events::agenda::{self, SessionFields, SessionPage, SessionView};
use crate::services::events::announcements::{self, AnnouncementPage};
use crate::services::events::catalog::{self, EventFields, EventPage, EventView};
use crate::services::events::live::{self, RtcToken};
use crate::services::events::registration::{self, Registered, RegistrationPage};
use crate::services::events::{DEFAULT_PAGE, MAX_PAGE};

#[derive(Deserialize)]
pub struct NewEvent {
    title: String,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
    starts_at: String,
    ends_at: String,
    timezone: String,
    #[serde(default, deserialize_with = "present")]
    location: Option<String>,
    #[serde(default, deserialize_with = "present")]
    capacity: Option<i64>,
}

/// `POST /v1/events` → 201 `{"event_id"}` (a draft).
pub async fn create(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<NewEvent>,
) -> Result<(StatusCode, Json<catalog::Created>), ApiError> {
    let fields = EventFields {
        title: Some(b.title),
        description: b.description,
        starts_at: Some(b.starts_at),
        ends_at: Some(b.ends_at),
        timezone: Some(b.timezone),
        location: b.location,
        capacity: b.capacity,
    };
    Ok((StatusCode::CREATED, Json(catalog::create(&state, &p, fields).await?)))
}

#[derive(Deserialize)]
pub struct EventChanges {
    #[serde(default, deserialize_with = "present")]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    starts_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    ends_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    timezone: Option<String>,
    #[serde(default, deserialize_with = "present")]
    location: Option<String>,
    #[serde(default, deserialize_with = "present")]
    capacity: Option<i64>,
}

/// `PATCH /v1/events/{id}` → 200 the event.
pub async fn patch(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
    ApiJson(b): ApiJson<EventChanges>,
) -> Result<Json<EventView>, ApiError> {
    let fields = EventFields {
        title: b.title,
        description: b.description,
        starts_at: b.starts_at,
        ends_at: b.ends_at,
        timezone: b.timezone,
        location: b.location,
        capacity: b.capacity,
    };
    Ok(Json(catalog::patch(&state, &p, &eid, fields).await?))
}

/// `GET /v1/events?limit=&cursor=` → soonest first.
pub async fn list(
    State(state): State<AppState>,
    p: Principal,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let page = Page::parse(query, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(catalog::list(&state, &p, page.limit, page.cursor).await?))
}

/// `GET /v1/events/{id}`.
pub async fn get(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
) -> Result<Json<EventView>, ApiError> {
    Ok(Json(catalog::get(&state, &p, &eid).await?))
}

/// `POST /v1/events/{id}/publish` → 200 the event.
pub async fn publish(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
) -> Result<Json<EventView>, ApiError> {
    Ok(Json(catalog::publish(&state, &p, &eid).await?))
}

/// `POST /v1/events/{id}/cancel` → 200 the event; registered attendees are notified.
pub async fn cancel(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
) -> Result<Json<EventView>, ApiError> {
    Ok(Json(catalog::cancel(&state, &p, &eid).await?))
}

#[derive(Deserialize)]
pub struct SessionBody {
    #[serde(default, deserialize_with = "present")]
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    starts_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    ends_at: Option<String>,
    #[serde(default, deserialize_with = "present")]
    room: Option<String>,
    #[serde(default, deserialize_with = "present")]
    speaker_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    live: Option<bool>,
}

impl From<SessionBody> for SessionFields {
    fn from(b: SessionBody) -> Self {
        SessionFields {
            title: b.title,
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            room: b.room,
            speaker_ids: b.speaker_ids,
            live: b.live,
        }
    }
}

/// `POST /v1/events/{id}/sessions` → 201 `{"session_id"}`.
pub async fn create_session(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
    ApiJson(b): ApiJson<SessionBody>,
) -> Result<(StatusCode, Json<agenda::Created>), ApiError> {
    Ok((StatusCode::CREATED, Json(agenda::create(&state, &p, &eid, b.into()).await?)))
}

/// `GET /v1/events/{id}/sessions` → ordered by start.
pub async fn list_sessions(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<SessionPage>, ApiError> {
    let page = Page::parse(query, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(agenda::list(&state, &p, &eid, page.limit, page.cursor).await?))
}

#[derive(Deserialize)]
pub struct SessionPath {
    id: EventId,
    sid: SessionId,
}

/// `PATCH /v1/events/{id}/sessions/{sid}` → 200 the session.
pub async fn patch_session(
    State(state): State<AppState>,
    p: Principal,
    IdPath(path): IdPath<SessionPath>,
    ApiJson(b): ApiJson<SessionBody>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(agenda::patch(&state, &p, &path.id, &path.sid, b.into()).await?))
}

/// `DELETE /v1/events/{id}/sessions/{sid}` → 204.
pub async fn delete_session(
    State(state): State<AppState>,
    p: Principal,
    IdPath(path): IdPath<SessionPath>,
) -> Result<StatusCode, ApiError> {
    agenda::delete(&state, &p, &path.id, &path.sid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/events/{id}/registration` → 201 `{"status"}`.
pub async fn register(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    Ok((StatusCode::CREATED, Json(registration::register(&state, &p, &eid).await?)))
}

/// `DELETE /v1/events/{id}/registration` → 204.
pub async fn unregister(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
) -> Result<StatusCode, ApiError> {
    registration::cancel(&state, &p, &eid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/events/{id}/registrations` (organizers).
pub async fn list_registrations(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<RegistrationPage>, ApiError> {
    let page = Page::parse(query, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(registration::list(&state, &p, &eid, page.limit, page.cursor).await?))
}

#[derive(Deserialize)]
pub struct NewAnnouncement {
    title: String,
    body: String,
}

/// `POST /v1/events/{id}/announcements` → 201 `{"announcement_id"}`.
pub async fn announce(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
    ApiJson(b): ApiJson<NewAnnouncement>,
) -> Result<(StatusCode, Json<announcements::Created>), ApiError> {
    Ok((StatusCode::CREATED, Json(announcements::create(&state, &p, &eid, &b.title, &b.body).await?)))
}

/// `GET /v1/events/{id}/announcements` → newest first.
pub async fn list_announcements(
    State(state): State<AppState>,
    p: Principal,
    IdPath(eid): IdPath<EventId>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<AnnouncementPage>, ApiError> {
    let page = Page::parse(query, DEFAULT_PAGE, MAX_PAGE)?;
    Ok(Json(announcements::list(&state, &p, &eid, page.limit, page.cursor).await?))
}

/// `POST /v1/events/{id}/sessions/{sid}/rtc-token`.
pub async fn rtc_token(
    State(state): State<AppState>,
    p: Principal,
    IdPath(path): IdPath<SessionPath>,
) -> Result<Json<RtcToken>, ApiError> {
    Ok(Json(live::rtc_token(&state, &p, &path.id, &path.sid).await?))
}

#[derive(Deserialize)]
pub struct AgoraConfig {
    app_id: String,
    app_certificate: String,
}

/// `PUT /v1/admin/integrations/agora` → 204.
pub async fn configure_agora(
    State(state): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<AgoraConfig>,
) -> Result<StatusCode, ApiError> {
    live::configure(&state, &p, &b.app_id, &b.app_certificate).await?;
    Ok(StatusCode::NO_CONTENT)
}
