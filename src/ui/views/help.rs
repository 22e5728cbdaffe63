//! `?`: every command and the keys bound to it, over the current view.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

use crate::app::{Command, State};
use crate::theme::Theme;

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    for (cmd, what) in Command::ALL {
        let keys = state.keymap.keys_for(*cmd).join(" ");
        lines.push(Line::from(vec![
            Span::styled(
                format!("{keys:>18}  "),
                Style::default()
                    .fg(theme.key_hint)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(*what, Style::default().fg(theme.fg)),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "  palette: :projects :project P :env [P/]ENV :tags :dockerfile :build :q",
        Style::default().fg(theme.muted),
    )));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(76)])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
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
