//! Pieces shared by every view: header, footer, table styling.

pub mod dialog;
pub mod footer;
pub mod header;
pub mod table;
