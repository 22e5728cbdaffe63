//! The bottom line: the filter or palette being typed, a message, or key hints.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{Command, Mode, State, View};
use crate::theme::Theme;

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let base = Style::default().fg(theme.fg).bg(theme.bg);
    let (prefix, input) = match &state.mode {
        Mode::Filter(i) => ("/", Some(i)),
        Mode::Palette(i) => (":", Some(i)),
        _ => ("", None),
    };
    if let Some(input) = input {
        let line = Line::from(vec![
            Span::styled(prefix, base.fg(theme.accent).add_modifier(Modifier::BOLD)),
            Span::styled(input.value().to_string(), base),
        ]);
        frame.render_widget(Paragraph::new(line).style(base), area);
        let x = area.x + 1 + u16::try_from(input.visual_cursor()).unwrap_or(u16::MAX);
        frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
        return;
    }
    if let Some(flash) = &state.flash {
        let colour = if flash.error { theme.error } else { theme.fg };
        frame.render_widget(
            Paragraph::new(Span::styled(flash.text.clone(), base.fg(colour))).style(base),
            area,
        );
        return;
    }
    let mut spans = Vec::new();
    let filter = &state.screen().filter;
    if !filter.is_empty() {
        spans.push(Span::styled(
            format!("filter: {filter}  "),
            base.fg(theme.filter_match).add_modifier(Modifier::BOLD),
        ));
    }
    let hints: &[(Command, &str)] = match &state.screen().view {
        View::Projects => &[
            (Command::Enter, "open"),
            (Command::Tags, "tags"),
            (Command::Build, "build"),
            (Command::Dockerfile, "dockerfile"),
            (Command::Filter, "filter"),
            (Command::Palette, "palette"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
        View::Environments { .. } | View::Hosts { .. } => &[
            (Command::Enter, "open"),
            (Command::Back, "back"),
            (Command::Tags, "tags"),
            (Command::Build, "build"),
            (Command::Filter, "filter"),
            (Command::Palette, "palette"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
        View::Dockerfile { .. } => &[
            (Command::Back, "back"),
            (Command::Build, "build"),
            (Command::Tags, "tags"),
            (Command::Filter, "find"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
        View::Tags { .. } => &[
            (Command::Back, "back"),
            (Command::Tags, "refresh"),
            (Command::Build, "build"),
            (Command::Filter, "filter"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
        View::Build { .. } => &[
            (Command::Back, "back"),
            (Command::Bottom, "follow"),
            (Command::Tags, "tags"),
            (Command::Filter, "find"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
    };
    for (cmd, what) in hints.iter().copied() {
        let keys = state.keymap.keys_for(cmd);
        let Some(key) = keys.first() else { continue };
        spans.push(Span::styled(
            format!("<{key}>"),
            base.fg(theme.key_hint).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!(" {what}  "), base.fg(theme.muted)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}
