//! Integration tests: one binary, a real server per test.

mod helpers;

mod admin_console;
mod auth;
mod browser;
mod checklists;
mod cli;
mod client_js;
mod cluster;
mod coverage;
mod crash;
mod departments;
mod errors;
mod expr;
mod fleet;
mod handoffs;
mod invariants;
mod language;
mod matrix;
mod openapi;
mod ops;
mod photos;
mod reference;
mod responses;
mod restart;
mod review;
mod review_page;
mod routes;
mod schedules;
mod scope;
mod security;
mod simulation;
mod site_files;
mod sync;
mod uploads;
mod webui;
