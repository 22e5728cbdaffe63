//! The rollout view (Argo-like, live) and the environment's rollout cell.

use ratatui::style::{Modifier, Style};

use crate::app::State;
use crate::theme::Theme;
use crate::ui::widgets::table::TCell;

/// The environments view's ROLLOUT cell: this console's rollout, another
/// operator's (from the fleet lock), or an unfinished release.
pub fn env_activity_cell(state: &State, theme: &Theme, project: &str, env: &str) -> TCell {
    match state.env_activity_text(project, env) {
        Some((text, bad)) => TCell::new(
            text,
            Style::default()
                .fg(if bad {
                    theme.rollout_failed
                } else {
                    theme.rollout_running
                })
                .add_modifier(Modifier::BOLD),
        ),
        None => TCell::new("-", Style::default().fg(theme.muted)),
    }
}

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::model::release::{HostProgress, RolloutPane, RolloutStatus, status_word};
use crate::app::rows::rollout_rows;
use crate::domain::summary::duration_short;
use crate::rollout::events::{HostPhase, short_digest};
use crate::rollout::journal::Outcome;
use crate::ui::widgets::table::{self, Column, Spec, TRow};

const COLUMNS: [Column; 5] = [
    Column::new("HOST", 0, 24),
    Column::new("PHASE", 0, 36),
    Column::new("TIME", 1, 8),
    Column::new("PULL", 2, 10),
    Column::text("DETAIL", 3, 16, 120),
];

/// Argo's icons: ✔ ✖ ◌ ◷ ⚠ ॥.
fn icon(status: RolloutStatus) -> &'static str {
    match status {
        RolloutStatus::Preparing | RolloutStatus::Running => "◷",
        RolloutStatus::Paused => "॥",
        RolloutStatus::RollingBack | RolloutStatus::Stopping => "⚠",
        RolloutStatus::Finished(Outcome::Succeeded) => "✔",
        RolloutStatus::Finished(_) | RolloutStatus::Refused => "✖",
    }
}

fn status_colour(theme: &Theme, status: RolloutStatus) -> ratatui::style::Color {
    match status {
        RolloutStatus::Preparing | RolloutStatus::Running => theme.rollout_running,
        RolloutStatus::Paused | RolloutStatus::Stopping => theme.rollout_paused,
        RolloutStatus::Finished(Outcome::Succeeded) => theme.rollout_ok,
        _ => theme.rollout_failed,
    }
}

fn phase_text(state: &State, p: &RolloutPane, h: &HostProgress) -> String {
    if let Some(why) = &h.left_out {
        return format!("left out: {why}");
    }
    if h.pull_error.is_some() {
        return "pull FAILED".into();
    }
    match h.phase {
        Some(HostPhase::WaitingHealth) => match h.gate_deadline {
            Some(d) => format!(
                "waiting for health ({}s left)",
                (d - state.now).num_seconds().max(0)
            ),
            None => "waiting for health".into(),
        },
        Some(phase) => phase.word().to_string(),
        None if !p.running() => "not reached (unchanged)".into(),
        None if h.pulled.is_some() => "pulled, waiting for its batch".into(),
        None => match h.pulling {
            Some((b, t)) if t > 0 => format!(
                "pulling {} / {} ({}%)",
                crate::rollout::events::human_bytes(b),
                crate::rollout::events::human_bytes(t),
                b.saturating_mul(100) / t
            ),
            _ => "waiting".into(),
        },
    }
}

fn phase_colour(theme: &Theme, h: &HostProgress) -> ratatui::style::Color {
    if h.left_out.is_some() || h.pull_error.is_some() {
        return theme.rollout_failed;
    }
    match h.phase {
        Some(HostPhase::Healthy | HostPhase::Skipped | HostPhase::RolledBack) => theme.rollout_ok,
        Some(HostPhase::Failed | HostPhase::RestoreFailed) => theme.rollout_failed,
        Some(HostPhase::Restoring | HostPhase::Restored | HostPhase::RollingBack) => {
            theme.rollout_paused
        }
        Some(_) => theme.rollout_running,
        None => theme.muted,
    }
}

/// The header lines: status, from → to, batch, elapsed, ETA, capacity.
fn header(state: &State, theme: &Theme, p: &RolloutPane) -> Vec<Line<'static>> {
    let colour = status_colour(theme, p.status);
    let from = if p.from_versions.is_empty() {
        "-".to_string()
    } else {
        p.from_versions.join(",")
    };
    let elapsed = (p.finished_at.unwrap_or(state.now) - p.started_at).num_seconds();
    let (healthy, n) = p.healthy();
    let eta = p
        .eta_secs(state.now)
        .map(|s| format!(" · ETA {}", duration_short(s)))
        .unwrap_or_default();
    let digest = p
        .digest
        .as_deref()
        .map(|d| format!(" ({})", short_digest(d)))
        .unwrap_or_default();
    let kept = p
        .plan
        .as_ref()
        .map(|pl| format!(" · capacity kept ≥ {}/{}", pl.min_serving, pl.hosts.len()))
        .unwrap_or_default();
    let mut lines = vec![
        Line::from(vec![
            Span::styled(
                format!(
                    " {} {} ",
                    icon(p.status),
                    status_word(p.status).to_uppercase()
                ),
                Style::default().fg(colour).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                " {} {from} → {}{digest}",
                p.action.word(),
                p.version
            )),
        ]),
        Line::from(format!(
            " batch {}/{} · elapsed {}{eta} · healthy {healthy}/{n} · out of service {}{kept}",
            p.batch.0,
            p.batch.1,
            duration_short(elapsed),
            p.unavailable()
        )),
    ];
    if !p.message.is_empty() {
        lines.push(Line::from(Span::styled(
            format!(" {}", p.message),
            Style::default().fg(colour),
        )));
    }
    for n in &p.needs_operator {
        lines.push(Line::from(Span::styled(
            format!(" NEEDS AN OPERATOR: {n}"),
            Style::default()
                .fg(theme.rollout_failed)
                .add_modifier(Modifier::BOLD),
        )));
    }
    lines
}

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str, env: &str) {
    let screen = state.screen();
    let title = format!(" {project} › {env} › rollout ");
    let r = state.env_releases(project, env);
    let pane = r.and_then(|r| r.rollout.as_ref());
    let other = r.and_then(|r| r.other_rollout());
    let Some(p) = pane.filter(|p| p.running() || other.is_none()) else {
        // Another operator's rollout, or none: read from the fleet.
        let text = match (other, r.and_then(|r| r.interrupted())) {
            (Some(l), _) => format!(
                "in progress by {} (release {}, {}), since {}{}\n\n{}\n\nthe hosts' phases below are read from the fleet; space pauses or resumes it, A aborts it",
                l.owner,
                l.release,
                l.phase_word(),
                l.acquired_at.format("%H:%M:%S"),
                if l.message.is_empty() { String::new() } else { format!(", \"{}\"", l.message) },
                l.state.as_ref().map(|s| s.detail.clone()).unwrap_or_default()
            ),
            (None, Some(i)) => format!(
                "UNFINISHED: {} {} by {} (release {}) never finished.\n\nu resumes it, R rolls back.",
                i.action.word(), i.version, i.user, i.release
            ),
            (None, None) => "no rollout of this environment from this console yet: D deploys, P promotes, R rolls back".into(),
        };
        let [top, rest] = Layout::vertical([Constraint::Length(7), Constraint::Min(3)]).areas(area);
        super::text::message(theme, frame, top, title, &text, false);
        super::hosts::draw(state, theme, frame, rest, project, env);
        return;
    };
    let head = header(state, theme, p);
    // Long messages wrap: give them the lines they need.
    let inner = usize::from(area.width.saturating_sub(2)).max(1);
    let head_lines: usize = head.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let failing: Vec<(&String, &HostProgress)> = p
        .order
        .iter()
        .filter_map(|h| p.hosts.get(h).map(|x| (h, x)))
        .filter(|(_, h)| {
            matches!(
                h.phase,
                Some(
                    HostPhase::Failed
                        | HostPhase::Restoring
                        | HostPhase::Restored
                        | HostPhase::RestoreFailed
                )
            )
        })
        .collect();
    let head_height = u16::try_from(head_lines).unwrap_or(3) + 2;
    let hosts_height = u16::try_from(p.order.len())
        .unwrap_or(u16::MAX)
        .saturating_add(3);
    // With a failure, its pane takes what the host list does not need.
    let [top, list, fail, log] = if failing.is_empty() {
        Layout::vertical([
            Constraint::Length(head_height),
            Constraint::Min(4),
            Constraint::Length(0),
            Constraint::Length(6),
        ])
        .areas(area)
    } else {
        // On a short terminal the event lines give way to the why.
        let events = if area.height < 32 { 0 } else { 5 };
        Layout::vertical([
            Constraint::Length(head_height),
            Constraint::Length(hosts_height.min(area.height / 2)),
            Constraint::Min(7),
            Constraint::Length(events),
        ])
        .areas(area)
    };
    frame.render_widget(Paragraph::new(head).block(table::block(theme, title)), top);
    let none = HostProgress::default();
    let rows: Vec<TRow> = rollout_rows(state, project, env, &screen.filter)
        .into_iter()
        .map(|h| {
            let hp = p.hosts.get(&h).unwrap_or(&none);
            let mut timings: Vec<String> = hp
                .timings
                .iter()
                .map(|(ph, s)| format!("{} {s:.1}s", ph.word()))
                .collect();
            if let Some(d) = &hp.detail {
                timings.push(d.lines().next().unwrap_or("").to_string());
            }
            if let Some(e) = &hp.pull_error {
                timings.push(e.clone());
            }
            let bad = matches!(hp.phase, Some(HostPhase::Failed | HostPhase::RestoreFailed))
                || hp.pull_error.is_some();
            let row = TRow::new(vec![
                TCell::new(h.clone(), Style::default().add_modifier(Modifier::BOLD)),
                TCell::new(
                    phase_text(state, p, hp),
                    Style::default()
                        .fg(phase_colour(theme, hp))
                        .add_modifier(Modifier::BOLD),
                ),
                TCell::plain(if hp.phase.is_some() {
                    format!("{:.1}s", hp.secs)
                } else {
                    "-".into()
                }),
                TCell::plain(
                    hp.pulled
                        .map(|s| format!("{s:.1}s"))
                        .unwrap_or_else(|| "-".into()),
                ),
                TCell::new(timings.join(" · "), Style::default().fg(theme.muted)),
            ]);
            if bad {
                row.style(Style::default().fg(theme.rollout_failed))
            } else {
                row
            }
        })
        .collect();
    table::draw_spec(
        theme,
        frame,
        list,
        Spec {
            title: format!(" hosts ({}) ", p.order.len()),
            columns: &COLUMNS,
            rows,
            selected: screen.selected,
            empty: "waiting for the plan…",
        },
    );
    if let Some((host, h)) = failing.first() {
        let mut lines: Vec<Line> = vec![Line::from(Span::styled(
            format!(" {host}: {}", h.phase.map(HostPhase::word).unwrap_or("")),
            Style::default()
                .fg(theme.rollout_failed)
                .add_modifier(Modifier::BOLD),
        ))];
        if let Some(d) = &h.failure {
            lines.push(Line::from(if h.hook_failed {
                " its pre_host hook:"
            } else {
                " last probe:"
            }));
            for l in d.lines().take(4) {
                lines.push(Line::from(format!("   {l}")));
            }
        }
        match &h.log_tail {
            None if h.hook_failed => lines.push(Line::from(
                " its log: not read (the host was not touched: it runs what it ran)",
            )),
            None if p.running() => lines.push(Line::from(" its log: reading…")),
            None => lines.push(Line::from(" its log: none (the container never started)")),
            Some(Err(e)) => lines.push(Line::from(format!(" its log could not be read: {e}"))),
            Some(Ok(log)) => {
                lines.push(Line::from(format!(" its log (last {} lines):", log.len())));
                let room = usize::from(fail.height.saturating_sub(2)).saturating_sub(lines.len());
                for l in log.iter().skip(log.len().saturating_sub(room)) {
                    lines.push(Line::from(Span::styled(
                        format!("   {l}"),
                        Style::default().fg(theme.fg),
                    )));
                }
            }
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(table::block(theme, format!(" why {host} failed "))),
            fail,
        );
    }
    let room = usize::from(log.height.saturating_sub(2));
    let events: Vec<Line> = p
        .lines
        .iter()
        .skip(p.lines.len().saturating_sub(room))
        .map(|l| Line::from(Span::styled(l.clone(), Style::default().fg(theme.muted))))
        .collect();
    frame.render_widget(
        Paragraph::new(events).block(table::block(theme, " events ".into())),
        log,
    );
}
