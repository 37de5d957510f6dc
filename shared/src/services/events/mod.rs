//! The event app and its CMS (API.md "Events"): organizers (and admins) create, edit,
//! publish and cancel events and their agenda, read the attendee list and post
//! announcements; members read published events, register (or join the waitlist) and get
//! live-session tokens. Drafts are invisible to members (404).
//!
//! Items (tenant table), all in the event's partition `EVENT#<id>` but for the listings:
//! `META` (the event, with its registration counters), `SESS#<sid>` and its agenda copy
//! `AGENDA#<start>#<sid>` (ordered by start), `REG#<user>` (registered or waitlisted),
//! `WAIT#<uuidv7>#<user>` (the waitlist in arrival order), `ANN#<uuidv7>` (announcements,
//! sealed); listings `EVENTS#ALL/<start>#<id>` (organizers) and `EVENTS#LISTED/<start>#<id>`
//! (published at least once: what members see).

pub mod agenda;
pub mod announcements;
pub mod catalog;
pub mod live;
pub mod notify;
pub mod record;
pub mod registration;

/// Page sizes of the event lists (API.md: 1..=100, default 50).
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 100;
