//! The confirm dialog (plain or typed) and the version picker, drawn over
//! the current view.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use crate::app::model::dialog::{Confirm, Picker};
use crate::theme::Theme;

fn popup(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [col] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    col
}

fn frame_block(theme: &Theme, title: String, danger: bool) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Style::default().fg(if danger {
            theme.rollout_failed
        } else {
            theme.border_focus
        }))
        .title(format!(" {title} "))
        .title_style(
            Style::default()
                .fg(theme.title)
                .add_modifier(Modifier::BOLD),
        )
        .style(Style::default().fg(theme.fg).bg(theme.bg))
}

pub fn draw_confirm(c: &Confirm, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = c.lines.iter().map(|l| Line::from(l.clone())).collect();
    lines.push(Line::from(""));
    match &c.expected {
        Some(name) => {
            lines.push(Line::from(vec![
                Span::raw("type "),
                Span::styled(
                    name.clone(),
                    Style::default()
                        .fg(theme.warning)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::raw(" to go on, esc cancels: "),
            ]));
            lines.push(Line::from(Span::styled(
                format!("> {}", c.input.value()),
                Style::default()
                    .fg(theme.accent)
                    .add_modifier(Modifier::BOLD),
            )));
        }
        None => lines.push(Line::from(Span::styled(
            "enter / y goes on · esc / n cancels",
            Style::default().fg(theme.key_hint),
        ))),
    }
    if let Some(e) = &c.error {
        lines.push(Line::from(Span::styled(
            e.clone(),
            Style::default().fg(theme.error),
        )));
    }
    let width = area.width.saturating_sub(4).min(100);
    let height = u16::try_from(lines.len() + 4).unwrap_or(u16::MAX);
    let at = popup(area, width, height);
    frame.render_widget(Clear, at);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(frame_block(theme, c.title.clone(), c.expected.is_some())),
        at,
    );
}

pub fn draw_picker(p: &Picker, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    if let Some(n) = &p.note {
        lines.push(Line::from(Span::styled(
            n.clone(),
            Style::default().fg(theme.muted),
        )));
    }
    lines.push(Line::from(Span::styled(
        format!("> {}", p.input.value()),
        Style::default()
            .fg(theme.accent)
            .add_modifier(Modifier::BOLD),
    )));
    let visible = p.visible();
    let room = usize::from(area.height.saturating_sub(10)).max(3);
    let start = p.selected.saturating_sub(room.saturating_sub(1));
    for (i, item) in visible.iter().enumerate().skip(start).take(room) {
        let selected = i == p.selected;
        let style = if selected {
            crate::ui::widgets::table::selection_style(theme)
        } else {
            Style::default()
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} {:<28}", if selected { "▌" } else { " " }, item.value),
                style,
            ),
            Span::styled(format!("  {}", item.note), Style::default().fg(theme.muted)),
        ]));
    }
    if visible.is_empty() && p.typing_allowed && !p.input.value().trim().is_empty() {
        lines.push(Line::from(Span::styled(
            format!("  enter takes \"{}\"", p.input.value().trim()),
            Style::default().fg(theme.key_hint),
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        if p.typing_allowed {
            "type to filter or to name a version · ↑/↓ choose · enter · esc cancels"
        } else {
            "type to filter · ↑/↓ choose · enter · esc cancels"
        },
        Style::default().fg(theme.key_hint),
    )));
    let width = area.width.saturating_sub(4).min(100);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let at = popup(area, width, height);
    frame.render_widget(Clear, at);
    frame.render_widget(
        Paragraph::new(lines).block(frame_block(theme, p.title.clone(), false)),
        at,
    );
}
