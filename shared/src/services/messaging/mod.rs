//! Secure messaging: conversations, messages and attachments, and the streaming cipher the
//! attachments are sealed with.

pub mod attachments;
pub mod conversations;
pub mod membership;
pub mod stream_cipher;
