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
    let palette_text = format!("  palette: {}", crate::app::palette::summary());
    let palette_width = unicode_width::UnicodeWidthStr::width(palette_text.as_str());
    let palette = Line::from(Span::styled(palette_text, Style::default().fg(theme.muted)));
    // Two columns when one does not fit and the terminal is wide enough.
    let two = lines.len() + 6 > usize::from(area.height) && area.width >= 150;
    let width = if two {
        area.width.min(200)
    } else {
        area.width.min(96)
    };
    let per_column = if two {
        lines.len().div_ceil(2)
    } else {
        lines.len()
    };
    let palette_rows = palette_width.div_ceil(usize::from(width.saturating_sub(2)).max(1));
    let height = u16::try_from(per_column + 3 + palette_rows)
        .unwrap_or(u16::MAX)
        .min(area.height);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(theme.border_focus))
        .title(" help — any key closes ")
        .style(Style::default().bg(theme.bg));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [keys_area, palette_area] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(u16::try_from(palette_rows + 1).unwrap_or(4)),
    ])
    .areas(inner);
    if two {
        let right = lines.split_off(per_column);
        let [a, b] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
            .areas(keys_area);
        frame.render_widget(Paragraph::new(lines), a);
        frame.render_widget(Paragraph::new(right), b);
    } else {
        frame.render_widget(Paragraph::new(lines), keys_area);
    }
    frame.render_widget(
        Paragraph::new(vec![Line::from(""), palette]).wrap(Wrap { trim: false }),
        palette_area,
    );
}
