//! Seva's understanding of email, free of any I/O: reading a raw message of any shape into
//! what the desk needs ([`parse`]), telling the new words of a reply from the quoted
//! history and the signature ([`quote`]), making HTML safe to show ([`sanitize`]), the
//! keys that thread replies into the right conversation ([`thread`]), recognising
//! automatic mail and bounces ([`loops`]), and writing our own replies ([`compose`]).

pub mod compose;
pub mod loops;
pub mod parse;
pub mod quote;
pub mod sanitize;
pub mod thread;

pub use parse::{Mailbox, Parsed, Part, parse};
