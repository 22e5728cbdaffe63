//! Pieces shared by every view: header, banner, footer, table styling.

pub mod banner;
pub mod dialog;
pub mod footer;
pub mod header;
pub mod table;
