//! Hosts of one project in one environment: engine reachability and the
//! project's container on each (state, version, health, uptime, restarts).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Row};

use super::{health_style, reach_style, state_style};
use crate::app::State;
use crate::app::rows::host_rows;
use crate::domain::Reachability;
use crate::theme::Theme;
use crate::ui::format::{duration_short, ellipsize};
use crate::ui::widgets::table;

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str, env: &str) {
    let screen = state.screen();
    let rows = host_rows(state, project, env, &screen.filter);
    let title = format!(" {project} › {env} › hosts ({}) ", rows.len());
    let muted = Style::default().fg(theme.muted);
    let body: Vec<Row> = rows
        .into_iter()
        .map(|r| {
            let reach = Cell::from(r.reach.word()).style(reach_style(theme, &r.reach));
            let host =
                Cell::from(r.host.clone()).style(Style::default().add_modifier(Modifier::BOLD));
            if let Reachability::Unreachable {
                error,
                retry_in_secs,
            } = &r.reach
            {
                let dash = || Cell::from("-").style(muted);
                return Row::new(vec![
                    host,
                    reach,
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    Cell::from(ellipsize(
                        &format!("{error} (retry in {retry_in_secs}s)"),
                        90,
                    ))
                    .style(Style::default().fg(theme.host_unreachable)),
                ]);
            }
            match &r.container {
                None => Row::new(vec![
                    host,
                    reach,
                    Cell::from(if r.reach.is_reachable() { "none" } else { "" }).style(muted),
                ]),
                Some(c) => Row::new(vec![
                    host,
                    reach,
                    Cell::from(c.state.word()).style(state_style(theme, c.state)),
                    Cell::from(c.version.clone())
                        .style(Style::default().add_modifier(Modifier::BOLD)),
                    Cell::from(c.health.word()).style(health_style(theme, c.health)),
                    Cell::from(
                        c.uptime_secs(state.now)
                            .map(duration_short)
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Cell::from(c.restarts.to_string()).style(if c.restarts > 0 {
                        Style::default().fg(theme.warning)
                    } else {
                        muted
                    }),
                    Cell::from(r.kept.to_string()).style(muted),
                    Cell::from(ellipsize(&c.name, 40)).style(muted),
                ]),
            }
        })
        .collect();
    table::draw(
        theme,
        frame,
        area,
        title,
        Row::new(vec![
            "HOST",
            "ENGINE",
            "STATE",
            "VERSION",
            "HEALTH",
            "UPTIME",
            "RESTARTS",
            "KEPT",
            "CONTAINER / DETAIL",
        ]),
        body,
        &[
            Constraint::Length(12),
            Constraint::Length(11),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Min(10),
        ],
        screen.selected,
        "no hosts match",
    );
}
