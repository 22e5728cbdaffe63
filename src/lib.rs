//! shipdeck: a terminal operations console that ships Docker images to fleets
//! of plain Docker hosts. The binary (`main.rs`) is a thin shell over this library.

pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod domain;
pub mod engine;
pub mod paths;
pub mod theme;
pub mod ui;
