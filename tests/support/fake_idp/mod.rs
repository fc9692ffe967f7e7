//! The fake upstream IdP (filled in by its own change).
