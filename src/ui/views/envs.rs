//! Environments of one project, in promotion order, with what runs in each
//! and whether a rollout is under way (or an unfinished one waits).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::verdict_colour;
use crate::app::State;
use crate::app::rows::env_rows;
use crate::theme::Theme;
use crate::ui::widgets::table::{self, Column, Spec, TCell, TRow};

const COLUMNS: [Column; 7] = [
    Column::new("ENV", 0, 16),
    Column::new("STATUS", 0, 9),
    Column::new("HEALTH", 1, 28),
    Column::text("VERSIONS", 1, 12, 40),
    Column::new("UNREACHABLE", 3, 11),
    Column::new("HOSTS", 4, 5),
    Column::text("ROLLOUT", 2, 16, 60),
];

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str) {
    let screen = state.screen();
    let rows = env_rows(state, project, &screen.filter);
    let title = format!(" {project} › environments ({}) ", rows.len());
    let body: Vec<TRow> = rows
        .into_iter()
        .map(|s| {
            let accent = state
                .config
                .environment(&s.env)
                .map(|e| theme.env_accent(e))
                .unwrap_or(theme.env_default);
            let verdict = Style::default().fg(verdict_colour(theme, &s));
            let unreachable = if s.unreachable > 0 {
                Style::default()
                    .fg(theme.host_unreachable)
                    .add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(theme.muted)
            };
            let rollout = super::rollout::env_activity_cell(state, theme, project, &s.env);
            TRow::new(vec![
                TCell::new(
                    s.env.clone(),
                    Style::default().fg(accent).add_modifier(Modifier::BOLD),
                ),
                TCell::new(s.verdict().word(), verdict.add_modifier(Modifier::BOLD)),
                TCell::new(s.health_text(), verdict),
                TCell::plain(s.versions_text()),
                TCell::new(s.unreachable.to_string(), unreachable),
                TCell::plain(s.hosts.to_string()),
                rollout,
            ])
        })
        .collect();
    table::draw_spec(
        theme,
        frame,
        area,
        Spec {
            title,
            columns: &COLUMNS,
            rows: body,
            selected: screen.selected,
            empty: "no environments match",
        },
    );
}
