//! `?`: every command and the keys bound to it (read from the keymap in
//! force, so remapped keys show as they are), over the current view. In a
//! read-only console the commands it refuses are marked as off.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::app::State;
use crate::app::command::COMMANDS;
use crate::theme::Theme;

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    for info in COMMANDS {
        let keys = state.keymap.keys_for(info.command).join(" ");
        if keys.is_empty() {
            continue;
        }
        let off = state.refusal(info.command).is_some();
        let text_style = if off {
            Style::default()
                .fg(theme.muted)
                .add_modifier(Modifier::CROSSED_OUT)
        } else {
            Style::default().fg(theme.fg)
        };
        let mut spans = vec![
            Span::styled(
                format!("{keys:>16}  "),
                Style::default()
                    .fg(if off { theme.muted } else { theme.key_hint })
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(info.help, text_style),
        ];
        if off {
            spans.push(Span::styled(
                "  (read-only)",
                Style::default().fg(theme.warning),
            ));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        format!("  palette: {}", crate::app::palette::summary()),
        Style::default().fg(theme.muted),
    )));
    let width = area.width.min(96);
    let height = u16::try_from(lines.len() + 4)
        .unwrap_or(u16::MAX)
        .min(area.height);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Rounded)
                .border_style(Style::default().fg(theme.border_focus))
                .title(" help — any key closes ")
                .style(Style::default().bg(theme.bg)),
        ),
        popup,
    );
}
