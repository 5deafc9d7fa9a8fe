//! tenantd: a declarative tenant reconciler for a multi-tenant SaaS on Docker and PostgreSQL.
//!
//! Layout (see ARCHITECTURE.md for the invariants):
//! - [`accounts`]: web users, sessions, CSRF tokens, login rate limits.
//! - [`resource`]: the `Tenant` type, validation, YAML codec. No I/O.
//! - [`store`]: the platform database: specs, status, events, credentials, watch.
//! - [`engine`]: Docker through bollard, and the observed-state cache.
//! - [`tenantdb`]: per-tenant Postgres schema and role.
//! - [`reconcile`]: the pure planner, the executor and the controller runtime.
//! - [`api`]: the HTTP API under `/api/v1`.
//! - [`sync`]: the watched specs folder, applied to the store.
//! - [`web`]: the server-rendered pages, their layout and design system.
//! - [`server`], [`metrics`]: the HTTP listener of `tenantd serve`.
//! - [`config`], [`app`], [`cli`]: configuration, wiring, and the command line.
//! - [`memory`]: how the allocator returns large blocks to the kernel.

pub mod accounts;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod engine;
pub mod memory;
pub mod metrics;
pub mod reconcile;
pub mod resource;
pub mod server;
pub mod store;
pub mod sync;
pub mod tenantdb;
pub mod web;
