//! The background sweeper: exactly the rows that are due go, to the second; it works in bounded
//! batches, one replica at a time, and stops between batches on shutdown.

mod due_rows;
mod fixture;
mod heap_order;
mod running;
