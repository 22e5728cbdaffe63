//! The releases of one project+environment, newest first: who, what
//! (version, digest), when, result, duration, message. From the journal
//! merged with the fleet's ledger, so it works from an empty journal.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use crate::app::State;
use crate::app::rows::history_rows;
use crate::domain::summary::duration_short;
use crate::rollout::events::short_digest;
use crate::rollout::journal::Outcome;
use crate::theme::Theme;
use crate::ui::widgets::table::{self, Column, Spec, TCell, TRow};

const COLUMNS: [Column; 8] = [
    Column::new("STARTED (UTC)", 0, 19),
    Column::new("WHAT", 0, 16),
    Column::new("VERSION", 0, 24),
    Column::new("RESULT", 0, 12),
    Column::text("WHO", 2, 10, 28),
    Column::new("SECS", 3, 7),
    Column::new("DIGEST", 4, 19),
    Column::text("MESSAGE", 5, 12, 80),
];

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str, env: &str) {
    let screen = state.screen();
    let r = state.env_releases(project, env);
    if let Some(Err(e)) = r.and_then(|r| r.history.as_ref()) {
        super::text::message(
            theme,
            frame,
            area,
            format!(" {project} › {env} › history "),
            e,
            true,
        );
        return;
    }
    let loading = r.is_none_or(|r| r.history.is_none());
    let rows = history_rows(state, project, env, &screen.filter);
    let body: Vec<TRow> = rows
        .iter()
        .map(|r| {
            let colour = match r.result {
                Some(Outcome::Succeeded) if !r.rolled_back => theme.rollout_ok,
                Some(Outcome::Succeeded) => theme.muted,
                None | Some(Outcome::Interrupted) => theme.rollout_paused,
                Some(Outcome::Refused) => theme.muted,
                _ => theme.rollout_failed,
            };
            let mut result = r.result_word().to_string();
            if r.rolled_back && r.succeeded() {
                result = "rolled back".into();
            }
            let what = match (&r.promoted_from, &r.resumes) {
                (Some(f), _) => format!("promote ←{f}"),
                (None, Some(_)) => format!("{} (resume)", r.action.word()),
                _ => r.action.word().to_string(),
            };
            TRow::new(vec![
                TCell::plain(r.started_at.format("%Y-%m-%d %H:%M:%S").to_string()),
                TCell::plain(what),
                TCell::new(
                    r.version.clone(),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                TCell::new(
                    result,
                    Style::default().fg(colour).add_modifier(Modifier::BOLD),
                ),
                TCell::plain(r.user.clone()),
                TCell::plain(
                    r.duration_secs
                        .map(|d| duration_short(d as i64))
                        .unwrap_or_else(|| "-".into()),
                ),
                TCell::new(
                    r.digest
                        .as_deref()
                        .map(short_digest)
                        .unwrap_or_else(|| "-".into()),
                    Style::default().fg(theme.muted),
                ),
                TCell::new(r.message.clone(), Style::default().fg(theme.muted)),
            ])
        })
        .collect();
    table::draw_spec(
        theme,
        frame,
        area,
        Spec {
            title: format!(" {project} › {env} › history ({}) ", rows.len()),
            columns: &COLUMNS,
            rows: body,
            selected: screen.selected,
            empty: if loading {
                "reading the journal and the fleet's ledger…"
            } else {
                "no releases yet"
            },
        },
    );
}
