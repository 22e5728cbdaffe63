//! A bordered, selectable table in the house style.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, BorderType, Borders, Row, Table, TableState};

use crate::theme::Theme;

/// The selected row: the theme's selection colours, or reverse video when the
/// theme has none (`NO_COLOR`), so the cursor is always visible.
pub fn selection_style(theme: &Theme) -> Style {
    if theme.selection_bg == ratatui::style::Color::Reset {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    } else {
        Style::default()
            .fg(theme.selection_fg)
            .bg(theme.selection_bg)
            .add_modifier(Modifier::BOLD)
    }
}

/// The bordered block every list and pane sits in.
pub fn block(theme: &Theme, title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::default().fg(theme.border_focus))
        .title(title)
        .title_style(
            Style::default()
                .fg(theme.title)
                .add_modifier(Modifier::BOLD),
        )
        .style(Style::default().fg(theme.fg).bg(theme.bg))
}

/// Draw `rows` under `header` with the row `selected` highlighted.
#[allow(clippy::too_many_arguments)]
pub fn draw(
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    title: String,
    header: Row<'static>,
    rows: Vec<Row<'static>>,
    widths: &[Constraint],
    selected: usize,
    empty: &str,
) {
    let block = block(theme, title);
    let is_empty = rows.is_empty();
    let rows = if is_empty {
        vec![Row::new(vec![empty.to_string()]).style(Style::default().fg(theme.muted))]
    } else {
        rows
    };
    let table = Table::new(rows, widths.to_vec())
        .header(
            header.style(
                Style::default()
                    .fg(theme.muted)
                    .add_modifier(Modifier::BOLD),
            ),
        )
        .block(block)
        .column_spacing(2)
        .row_highlight_style(selection_style(theme))
        .highlight_symbol("▌");
    let mut ts = TableState::default();
    if !is_empty {
        ts.select(Some(selected));
    }
    frame.render_stateful_widget(table, area, &mut ts);
}
