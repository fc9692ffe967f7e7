//! Random tokens, lookup hashes, sealing of secrets at rest, and JWT signing keys.

pub mod hash;
pub mod random;
pub mod seal;
pub mod signing;

pub use seal::{Sealed, Sealer};
