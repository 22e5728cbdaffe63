//! Projects: every project with a one-line health summary per environment.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use super::verdict_colour;
use crate::app::State;
use crate::app::rows::project_rows;
use crate::theme::Theme;
use crate::ui::widgets::table;

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let screen = state.screen();
    let rows = project_rows(state, &screen.filter);
    let title = format!(" projects ({}) ", rows.len());
    let body: Vec<Row> = rows
        .into_iter()
        .map(|r| {
            let mut spans = Vec::new();
            for s in &r.envs {
                let ver = s
                    .versions
                    .first()
                    .map(|(v, _)| v.clone())
                    .unwrap_or_else(|| "-".into());
                let mixed = if s.versions.len() > 1 { "+" } else { "" };
                spans.push(Span::styled(
                    format!("{} ", s.env),
                    Style::default().fg(theme.fg),
                ));
                spans.push(Span::styled(
                    format!("{ver}{mixed} {}/{}", s.healthy, s.hosts),
                    Style::default().fg(verdict_colour(theme, s)),
                ));
                spans.push(Span::raw("   "));
            }
            Row::new(vec![
                Cell::from(r.name).style(Style::default().add_modifier(Modifier::BOLD)),
                Cell::from(crate::ui::format::ellipsize(&r.image, 30))
                    .style(Style::default().fg(theme.muted)),
                Cell::from(Line::from(spans)),
            ])
        })
        .collect();
    table::draw(
        theme,
        frame,
        area,
        title,
        Row::new(vec![
            "PROJECT",
            "IMAGE",
            "ENVIRONMENTS  (version healthy/hosts)",
        ]),
        body,
        &[
            Constraint::Length(16),
            Constraint::Length(30),
            Constraint::Min(20),
        ],
        screen.selected,
        "no projects match",
    );
}
