//! Tags (`t`): the project's image tags from its registry, newest first, with
//! digest, age, size and the environments that run each one now.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::app::State;
use crate::app::rows::tag_rows;
use crate::app::state::Loadable;
use crate::domain::labels::digest_hex12;
use crate::theme::Theme;
use crate::ui::format::duration_short;
use crate::ui::widgets::table::{self, Column, Spec, TCell, TRow};

const COLUMNS: [Column; 6] = [
    Column::new("TAG", 0, 40),
    Column::text("RUNNING IN", 1, 12, 60),
    Column::new("DIGEST", 3, 12),
    Column::new("AGE", 2, 7),
    Column::new("CREATED (UTC)", 4, 16),
    Column::new("SIZE", 5, 10),
];

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str) {
    let screen = state.screen();
    let image = state
        .config
        .project(project)
        .map(|p| p.image.clone())
        .unwrap_or_default();
    let title = format!(" {project} › tags ({image}) ");
    if let Some(Loadable::Failed(e)) = state.tags.get(project) {
        let text = format!("{e}\n\npress t to try again");
        super::text::message(theme, frame, area, title, &text, true);
        return;
    }
    let loading = matches!(state.tags.get(project), None | Some(Loadable::Loading));
    let rows = tag_rows(state, project, &screen.filter);
    let title = if loading {
        title
    } else {
        format!(" {project} › tags ({}) · {image} ", rows.len())
    };
    let body: Vec<TRow> = rows
        .into_iter()
        .map(|r| {
            let running: Vec<Span> = r
                .running_in
                .iter()
                .flat_map(|(env, n)| {
                    let accent = state
                        .config
                        .environment(env)
                        .map(|e| theme.env_accent(e))
                        .unwrap_or(theme.env_default);
                    [
                        Span::styled(env.clone(), Style::default().fg(accent)),
                        Span::styled(format!(" ×{n}  "), Style::default().fg(theme.muted)),
                    ]
                })
                .collect();
            let muted = Style::default().fg(theme.muted);
            TRow::new(vec![
                TCell::new(
                    r.tag.tag.clone(),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                TCell::spans(Line::from(running)),
                TCell::new(
                    r.tag
                        .digest
                        .as_deref()
                        .map(digest_hex12)
                        .unwrap_or("-".into()),
                    muted,
                ),
                TCell::plain(
                    r.tag
                        .created
                        .map(|c| duration_short((state.now - c).num_seconds()))
                        .unwrap_or("-".into()),
                ),
                TCell::plain(
                    r.tag
                        .created
                        .map(|c| c.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or("-".into()),
                ),
                TCell::plain(
                    r.tag
                        .size
                        .map(crate::rollout::events::human_bytes)
                        .unwrap_or("-".into()),
                ),
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
            empty: if loading {
                "reading the registry…"
            } else {
                "no tags"
            },
        },
    );
}
