//! Hosts of one project in one environment: engine reachability and the
//! project's serving container on each (state, version, health, uptime,
//! restarts). It must not mislead: a host without a serving container says
//! so (a kept container is not the app), health shows only for a running
//! container, a stopped one shows its exit code, and an unreachable engine
//! keeps its last-known row, greyed, with the time it went away and a
//! countdown to the next attempt.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};

use super::{health_style, reach_style, state_style};
use crate::app::State;
use crate::app::rows::host_rows;
use crate::domain::summary::{HostSummary, Serving, health_text, state_text};
use crate::domain::{ContainerState, Reachability};
use crate::theme::Theme;
use crate::ui::format::duration_short;
use crate::ui::widgets::table::{self, Column, Spec, TCell, TRow};

/// Columns of the hosts view; the detail and counters go first when narrow.
pub const COLUMNS: [Column; 11] = [
    Column::new("HOST", 0, 24),
    Column::new("STATE", 0, 22),
    Column::text("VERSION", 1, 8, 20),
    Column::new("HEALTH", 1, 9),
    Column::new("ENGINE", 2, 11),
    Column::new("UPTIME", 3, 7),
    Column::new("RESTARTS", 4, 8),
    Column::new("KEPT", 5, 4),
    Column::new("CPU", 5, 14),
    Column::new("MEM", 5, 15),
    Column::text("DETAIL", 6, 16, 90),
];

/// Samples a sparkline shows.
const SPARK: usize = 8;

/// CPU and memory of a container: its sparkline and the last value,
/// coloured by the share of one CPU / of the memory limit.
fn usage_cells(state: &State, theme: &Theme, id: &str) -> (TCell, TCell) {
    let Some(q) = state.stats.series.get(id).filter(|q| !q.is_empty()) else {
        let muted = Style::default().fg(theme.muted);
        return (TCell::new("-", muted), TCell::new("-", muted));
    };
    let last = q.back().copied().unwrap_or(crate::app::stats::Sample {
        cpu: 0.0,
        mem: 0,
        limit: 0,
    });
    let cpu_line = crate::app::stats::sparkline(q.iter().map(|s| s.cpu), SPARK, 100.0);
    let limit = last.limit.max(1) as f64;
    let mem_line = crate::app::stats::sparkline(q.iter().map(|s| s.mem as f64), SPARK, limit);
    let mem_pct = last.mem as f64 / limit * 100.0;
    let cpu = TCell::new(
        format!("{cpu_line} {:>3.0}%", last.cpu),
        Style::default().fg(theme.usage_colour(last.cpu)),
    );
    let mem = TCell::new(
        format!("{mem_line} {}", crate::ui::format::bytes_short(last.mem)),
        Style::default().fg(theme.usage_colour(mem_pct)),
    );
    (cpu, mem)
}

/// The cells of one host row.
pub fn row(state: &State, theme: &Theme, r: &HostSummary) -> TRow {
    let muted = Style::default().fg(theme.muted);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let host = TCell::new(r.host.clone(), bold);
    let engine = TCell::new(r.reach.word(), reach_style(theme, &r.reach));
    let detail = match &r.reach {
        Reachability::Unreachable { error, retry_at } => {
            let since = r
                .unreachable_since
                .map(|t| format!("unreachable since {} · ", t.format("%H:%M:%S")))
                .unwrap_or_default();
            let retry = (*retry_at - state.now).num_seconds().max(0);
            let retry = if retry == 0 {
                "retrying now".to_string()
            } else {
                format!("retry in {retry}s (ctrl-r now)")
            };
            TCell::new(
                format!("{since}{retry} · {error}"),
                Style::default().fg(theme.host_unreachable),
            )
        }
        _ => match r.container() {
            Some(c) => TCell::new(c.name.clone(), muted),
            None => TCell::plain(""),
        },
    };
    let stale = r.stale();
    let mut row = match (&r.serving, r.container()) {
        (Serving::None, _) => TRow::new(vec![
            host,
            TCell::new("no serving container", Style::default().fg(theme.warning)),
            TCell::new("-", muted),
            TCell::new("-", muted),
            engine,
            TCell::new("-", muted),
            TCell::new("-", muted),
            TCell::new(r.kept.to_string(), muted),
            TCell::new("-", muted),
            TCell::new("-", muted),
            detail,
        ]),
        (_, None) => TRow::new(vec![
            host,
            TCell::new("unknown", muted),
            TCell::new("-", muted),
            TCell::new("-", muted),
            engine,
            TCell::new("-", muted),
            TCell::new("-", muted),
            TCell::new("-", muted),
            TCell::new("-", muted),
            TCell::new("-", muted),
            detail,
        ]),
        (_, Some(c)) => {
            let (cpu, mem) = usage_cells(state, theme, &c.id);
            let health = health_text(c);
            let health_style = if c.state == ContainerState::Running {
                health_style(theme, c.health)
            } else {
                muted
            };
            TRow::new(vec![
                host,
                TCell::new(state_text(c), state_style(theme, c.state)),
                TCell::new(c.version.clone(), bold),
                TCell::new(health, health_style),
                engine,
                TCell::plain(
                    c.uptime_secs(state.now)
                        .map(duration_short)
                        .unwrap_or_else(|| "-".into()),
                ),
                TCell::new(
                    c.restarts.to_string(),
                    if c.restarts > 0 {
                        Style::default().fg(theme.warning)
                    } else {
                        muted
                    },
                ),
                TCell::new(r.kept.to_string(), muted),
                cpu,
                mem,
                detail,
            ])
        }
    };
    if stale {
        // Last-known facts of an engine that does not answer: greyed.
        let grey = muted.add_modifier(Modifier::DIM);
        for (i, c) in row.cells.iter_mut().enumerate() {
            // The host name, the engine word and the outage detail keep
            // their colours: they are live.
            if matches!(i, 0 | 4 | 10) {
                continue;
            }
            c.line.style = grey;
            for s in c.line.spans.iter_mut() {
                s.style = grey;
            }
        }
    }
    row
}

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str, env: &str) {
    // A rollout under way, or a release that never finished: a banner.
    let area = match state.env_activity_text(project, env) {
        Some((text, bad)) if area.height > 6 => {
            let [banner, rest] = ratatui::layout::Layout::vertical([
                ratatui::layout::Constraint::Length(1),
                ratatui::layout::Constraint::Min(3),
            ])
            .areas(area);
            let colour = if bad {
                theme.rollout_failed
            } else {
                theme.rollout_running
            };
            frame.render_widget(
                ratatui::widgets::Paragraph::new(format!(" ▶ {text}"))
                    .style(Style::default().fg(colour).add_modifier(Modifier::BOLD)),
                banner,
            );
            rest
        }
        _ => area,
    };
    let screen = state.screen();
    let rows = host_rows(state, project, env, &screen.filter);
    let title = format!(" {project} › {env} › hosts ({}) ", rows.len());
    let body: Vec<TRow> = rows.iter().map(|r| row(state, theme, r)).collect();
    table::draw_spec(
        theme,
        frame,
        area,
        Spec {
            title,
            columns: &COLUMNS,
            rows: body,
            selected: screen.selected,
            empty: "no hosts match",
        },
    );
}
