//! The relay's notifications: channels (group robots and webhooks, and the
//! rules for their URLs), each platform's request format and signature,
//! the sender that works through the outbox, and the live feed. The events
//! themselves are written by `outbox`, in the changes' own transactions.

pub mod channels;
pub mod feed;
pub mod format;
pub mod sender;
