//! The Club OS client: v3 (`x-api-key`) for users, events and locations, and v1 (HTTP
//! Basic) for `/emailmatch`, the only documented email lookup.
//!
//! Several v3 endpoints are *inferred* rather than documented (user and event search,
//! user update; see `clubos-api.md` §9), so their filter parameter names are
//! configurable in [`ClubOsConfig`] and their answers are read leniently.

pub mod client;
mod config;
pub mod models;

pub use client::{ClubOsClient, ClubOsConfig};
pub use models::{
    ClubOsAttendee, ClubOsEvent, ClubOsLocation, ClubOsRole, ClubOsUser, ClubOsUserOrigin,
    EmailMatch, EventSearch, NewEvent, NewUser, Page, SortDir, UserPatch, UserSearch,
};
