//! The top line: product, breadcrumb (with the environment's accent), fleet health.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{State, View};
use crate::theme::Theme;

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let base = Style::default().fg(theme.header_fg).bg(theme.header_bg);
    let mut spans = vec![Span::styled(
        " shipdeck ",
        base.add_modifier(Modifier::BOLD),
    )];
    spans.push(Span::styled("│ ", base));
    match &state.screen().view {
        View::Projects => spans.push(Span::styled("projects", base)),
        View::Environments { project } => {
            spans.push(Span::styled(format!("{project} › environments"), base))
        }
        View::Hosts { project, env } => {
            spans.push(Span::styled(format!("{project} › "), base));
            let accent = state
                .config
                .environment(env)
                .map(|e| theme.env_accent(e))
                .unwrap_or(theme.env_default);
            spans.push(Span::styled(
                env.clone(),
                base.fg(accent).add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::styled(" › hosts", base));
        }
        other => spans.push(Span::styled(other.title(), base)),
    }
    let total = state.fleet.hosts.len();
    let up = state
        .fleet
        .hosts
        .values()
        .filter(|h| h.reach.is_reachable())
        .count();
    let down = state
        .fleet
        .hosts
        .values()
        .filter(|h| matches!(h.reach, crate::domain::Reachability::Unreachable { .. }))
        .count();
    spans.push(Span::styled(format!("  │ engines {up}/{total} up"), base));
    if down > 0 {
        spans.push(Span::styled(
            format!(", {down} unreachable"),
            base.fg(theme.host_unreachable).add_modifier(Modifier::BOLD),
        ));
    }
    if state.readonly {
        let tag = if state.no_inventory.is_some() {
            "  │ READ-ONLY (no inventory)"
        } else {
            "  │ READ-ONLY"
        };
        spans.push(Span::styled(
            tag,
            base.fg(theme.warning).add_modifier(Modifier::BOLD),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}
