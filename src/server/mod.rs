//! The loopback HTTP(S) side that browsers talk to: the listener, the callback routes, the
//! Host guard and the pages.

pub mod guard;
pub mod listener;
pub mod pages;
