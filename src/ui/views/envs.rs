//! Environments of one project, in promotion order, with what runs in each.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Row};

use super::{verdict_colour, versions_text};
use crate::app::State;
use crate::app::rows::env_rows;
use crate::theme::Theme;
use crate::ui::widgets::table;

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str) {
    let screen = state.screen();
    let rows = env_rows(state, project, &screen.filter);
    let title = format!(" {project} › environments ({}) ", rows.len());
    let body: Vec<Row> = rows
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
            Row::new(vec![
                Cell::from(s.env.clone())
                    .style(Style::default().fg(accent).add_modifier(Modifier::BOLD)),
                Cell::from(s.hosts.to_string()),
                Cell::from(format!("{}/{}", s.running, s.hosts)),
                Cell::from(format!("{}/{}", s.healthy, s.hosts)).style(verdict),
                Cell::from(s.unreachable.to_string()).style(unreachable),
                Cell::from(versions_text(&s)),
                Cell::from(s.verdict()).style(verdict.add_modifier(Modifier::BOLD)),
            ])
        })
        .collect();
    table::draw(
        theme,
        frame,
        area,
        title,
        Row::new(vec![
            "ENV",
            "HOSTS",
            "RUNNING",
            "HEALTHY",
            "UNREACHABLE",
            "VERSIONS",
            "STATUS",
        ]),
        body,
        &[
            Constraint::Length(10),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(11),
            Constraint::Min(12),
            Constraint::Length(9),
        ],
        screen.selected,
        "no environments match",
    );
}
