//! Projects: every project with a one-line health summary per environment.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::verdict_colour;
use crate::app::State;
use crate::app::rows::project_rows;
use crate::theme::Theme;
use crate::ui::widgets::table::{self, Column, Spec, TCell, TRow};

const COLUMNS: [Column; 3] = [
    Column::new("PROJECT", 0, 24),
    Column::text("ENVIRONMENTS  (version healthy/hosts)", 0, 20, 120),
    Column::text("IMAGE", 2, 16, 40),
];

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let screen = state.screen();
    let rows = project_rows(state, &screen.filter);
    let title = format!(" projects ({}) ", rows.len());
    let body: Vec<TRow> = rows
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
                if !spans.is_empty() {
                    spans.push(Span::raw("   "));
                }
                spans.push(Span::styled(
                    format!("{} ", s.env),
                    Style::default().fg(theme.fg),
                ));
                spans.push(Span::styled(
                    format!("{ver}{mixed} {}/{}", s.healthy + s.no_check, s.hosts),
                    Style::default().fg(verdict_colour(theme, s)),
                ));
            }
            TRow::new(vec![
                TCell::new(r.name, Style::default().add_modifier(Modifier::BOLD)),
                TCell::spans(Line::from(spans)),
                TCell::new(r.image, Style::default().fg(theme.muted)),
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
            empty: if state.no_inventory.is_some() && state.config.projects.is_empty() {
                "no container on this engine carries shipdeck's labels (shipdeck.project, shipdeck.env, shipdeck.version)"
            } else {
                "no projects match"
            },
        },
    );
}
