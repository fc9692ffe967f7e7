//! The web consoles (issue 17): the end users' account page and the operators' admin console,
//! driven like a browser (cookie jar, no automatic redirects) against the real application.

mod account;
mod console;
mod last_used;
mod support;
