//! The health timeline of an environment: one strip per host over the last
//! ten minutes, each column the health the host's serving container had
//! then (from the watchers' events), the rollouts' moments marked `▼` on
//! the axis above, and below the list of what happened, newest last, with
//! each host's last probe output.

use chrono::{DateTime, TimeDelta, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::State;
use crate::app::timeline::Level;
use crate::theme::Theme;
use crate::ui::widgets::table;

/// The span of the strips.
pub const WINDOW_SECS: i64 = 600;

fn level_style(theme: &Theme, l: Option<Level>) -> (char, Style) {
    match l {
        None => ('·', Style::default().fg(theme.muted)),
        Some(Level::Healthy) => ('█', Style::default().fg(theme.health_ok)),
        Some(Level::Running) => ('▆', Style::default().fg(theme.state_running)),
        Some(Level::Starting) => ('▄', Style::default().fg(theme.health_starting)),
        Some(Level::Unhealthy) => ('█', Style::default().fg(theme.health_bad)),
        Some(Level::Down) => ('▁', Style::default().fg(theme.state_stopped)),
    }
}

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str, env: &str) {
    let title = format!(
        " {project} › {env} › health (last {} min) ",
        WINDOW_SECS / 60
    );
    let block = table::block(theme, title);
    let inner = block.inner(area);
    let base = Style::default().fg(theme.fg).bg(theme.bg);
    frame.render_widget(block.style(base), area);
    let hosts = state
        .config
        .project(project)
        .map(|p| p.hosts_in(env).to_vec())
        .unwrap_or_default();
    let label_w = hosts.iter().map(String::len).max().unwrap_or(4).max(4);
    // Host, strip, then the level word and the probe.
    let strip = usize::from(inner.width)
        .saturating_sub(label_w + 14)
        .clamp(10, 120);
    let now = state.now;
    let start = now - TimeDelta::seconds(WINDOW_SECS);
    let col_time = |i: usize| -> DateTime<Utc> {
        start + TimeDelta::milliseconds(WINDOW_SECS * 1000 * (i as i64 + 1) / strip as i64)
    };
    let col_of = |t: DateTime<Utc>| -> Option<usize> {
        if t < start || t > now {
            return None;
        }
        let ms = (t - start).num_milliseconds();
        Some(((ms * strip as i64) / (WINDOW_SECS * 1000)).clamp(0, strip as i64 - 1) as usize)
    };
    let muted = Style::default().fg(theme.muted);
    let mut lines: Vec<Line<'static>> = Vec::new();
    // The axis: times at both ends and the middle, then the marks.
    let mut axis: Vec<char> = vec![' '; strip];
    for m in state.timeline.marks_of(project, env) {
        if let Some(c) = col_of(m.at) {
            axis[c] = '▼';
        }
    }
    let ends = format!(
        "{:label_w$} {}{}{}",
        "",
        start.format("%H:%M"),
        " ".repeat(strip.saturating_sub(10)),
        now.format("%H:%M")
    );
    lines.push(Line::from(Span::styled(ends, muted)));
    lines.push(Line::from(vec![
        Span::styled(format!("{:label_w$} ", "rollout"), muted),
        Span::styled(
            axis.into_iter().collect::<String>(),
            Style::default()
                .fg(theme.rollout_running)
                .add_modifier(Modifier::BOLD),
        ),
    ]));
    let selected = state.screen().selected;
    for (i, host) in hosts.iter().enumerate() {
        let mut spans = vec![Span::styled(
            format!("{host:label_w$} "),
            if i == selected {
                Style::default()
                    .fg(theme.selection_fg)
                    .bg(theme.selection_bg)
            } else {
                Style::default().add_modifier(Modifier::BOLD)
            },
        )];
        // Runs of one level in one span.
        let mut run = String::new();
        let mut run_style = Style::default();
        for c in 0..strip {
            let (ch, st) = level_style(
                theme,
                state.timeline.level_at(host, project, env, col_time(c)),
            );
            if st != run_style && !run.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut run), run_style));
            }
            run_style = st;
            run.push(ch);
        }
        spans.push(Span::styled(run, run_style));
        let now_level = state.timeline.level_at(host, project, env, now);
        let (_, st) = level_style(theme, now_level);
        spans.push(Span::styled(
            format!(" {}", now_level.map_or("-", Level::word)),
            st,
        ));
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    // What happened, newest last: the rollout's marks and the hosts'
    // changes, merged by time.
    let mut events: Vec<(DateTime<Utc>, Line<'static>)> = Vec::new();
    for m in state.timeline.marks_of(project, env) {
        events.push((
            m.at,
            Line::from(vec![
                Span::styled(format!("{} ", m.at.format("%H:%M:%S")), muted),
                Span::styled(
                    format!("▼ {}", m.text),
                    Style::default().fg(theme.rollout_running),
                ),
            ]),
        ));
    }
    for host in &hosts {
        for p in state.timeline.points_of(host, project, env) {
            let (_, st) = level_style(theme, Some(p.level));
            events.push((
                p.at,
                Line::from(vec![
                    Span::styled(format!("{} ", p.at.format("%H:%M:%S")), muted),
                    Span::styled(
                        format!("{host} "),
                        Style::default().fg(theme.host_colour(host)),
                    ),
                    Span::styled(p.text.clone(), st),
                ]),
            ));
        }
    }
    events.sort_by_key(|(t, _)| *t);
    let probes: Vec<Line<'static>> = hosts
        .iter()
        .filter_map(|h| {
            let (at, out) = state.timeline.probes.get(h)?;
            Some(Line::from(vec![
                Span::styled(format!("{} ", at.format("%H:%M:%S")), muted),
                Span::styled(
                    format!("{h} last probe: "),
                    Style::default().fg(theme.title),
                ),
                Span::raw(out.lines().next().unwrap_or("").to_string()),
            ]))
        })
        .collect();
    let room = usize::from(inner.height)
        .saturating_sub(lines.len())
        .saturating_sub(probes.len());
    let skip = events.len().saturating_sub(room);
    lines.extend(events.into_iter().skip(skip).map(|(_, l)| l));
    lines.extend(probes);
    frame.render_widget(Paragraph::new(lines).style(base), inner);
}
