//! The console's data beyond navigation: releases and rollouts, dialogs.
//! Pure data, filled by `update()`.

pub mod dialog;
pub mod release;
