//! A bordered, selectable table in the house style, described by one spec:
//! columns with a priority are dropped, least important first, when the
//! terminal is too narrow for all of them, instead of every column being cut
//! to one letter. Column widths come from the content, so no state word is
//! ever cut while there is room for it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Borders, Cell, Row, Table, TableState};
use unicode_width::UnicodeWidthStr;

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

/// One column of a [`Spec`].
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    /// 0 is never dropped; higher numbers go first when space is short.
    pub priority: u8,
    /// Widest the column grows to from its content.
    pub max: u16,
    /// Narrowest it may get before it is dropped (text columns shrink and
    /// end with `…`; words such as states never do: their `min` is `max`).
    pub min: u16,
}

impl Column {
    /// A column that keeps its content's width (up to `max`) or goes.
    pub const fn new(header: &'static str, priority: u8, max: u16) -> Self {
        Self {
            header,
            priority,
            max,
            min: max,
        }
    }
    /// A text column that shrinks to `min` before it is dropped.
    pub const fn text(header: &'static str, priority: u8, min: u16, max: u16) -> Self {
        Self {
            header,
            priority,
            max,
            min,
        }
    }
}

/// One cell: a line of styled text.
#[derive(Debug, Clone)]
pub struct TCell {
    pub line: Line<'static>,
}

impl TCell {
    pub fn new(text: impl Into<String>, style: Style) -> Self {
        Self {
            line: Line::styled(text.into(), style),
        }
    }
    pub fn plain(text: impl Into<String>) -> Self {
        Self::new(text, Style::default())
    }
    /// Several spans in one cell.
    pub fn spans(line: Line<'static>) -> Self {
        Self { line }
    }
}

/// One row: one cell per column (missing cells are blank).
#[derive(Debug, Clone, Default)]
pub struct TRow {
    pub cells: Vec<TCell>,
    pub style: Style,
}

impl TRow {
    pub fn new(cells: Vec<TCell>) -> Self {
        Self {
            cells,
            style: Style::default(),
        }
    }
    pub fn style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }
}

/// Everything a table draw needs.
pub struct Spec<'a> {
    pub title: String,
    pub columns: &'a [Column],
    pub rows: Vec<TRow>,
    pub selected: usize,
    /// Shown (muted) when there are no rows.
    pub empty: &'a str,
}

const SPACING: u16 = 2;

/// Which columns fit in `width` and how wide each is: widths from the
/// content (at least the header), then the least important columns dropped
/// until the rest fit. The last kept column takes what is left.
pub fn layout(columns: &[Column], rows: &[TRow], width: u16) -> Vec<(usize, u16)> {
    let wanted: Vec<u16> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let content = rows
                .iter()
                .filter_map(|r| r.cells.get(i))
                .map(|c| u16::try_from(c.line.width()).unwrap_or(u16::MAX))
                .max()
                .unwrap_or(0);
            let header = u16::try_from(c.header.width()).unwrap_or(u16::MAX);
            content.max(header).min(c.max.max(header))
        })
        .collect();
    // Fitting is decided at the narrowest each column may get.
    let mut widths: Vec<u16> = columns
        .iter()
        .zip(&wanted)
        .map(|(c, w)| {
            let header = u16::try_from(c.header.width()).unwrap_or(u16::MAX);
            (*w).min(c.min.max(header))
        })
        .collect();
    let mut kept: Vec<usize> = (0..columns.len()).collect();
    let total = |kept: &[usize], widths: &[u16]| -> u32 {
        let cols: u32 = kept.iter().map(|&i| u32::from(widths[i])).sum();
        cols + u32::from(SPACING) * u32::try_from(kept.len().saturating_sub(1)).unwrap_or(0)
    };
    while total(&kept, &widths) > u32::from(width) {
        // The least important, rightmost droppable column goes first.
        let Some(pos) = kept
            .iter()
            .enumerate()
            .filter(|(_, i)| columns[**i].priority > 0)
            .max_by_key(|(pos, i)| (columns[**i].priority, *pos))
            .map(|(pos, _)| pos)
        else {
            break;
        };
        kept.remove(pos);
    }
    // What is left over goes to the shrunk columns first (up to what
    // their content wants), then to the last column.
    let mut spare = u32::from(width).saturating_sub(total(&kept, &widths));
    for &i in &kept {
        let more = u32::from(wanted[i].saturating_sub(widths[i])).min(spare);
        widths[i] = widths[i].saturating_add(u16::try_from(more).unwrap_or(0));
        spare -= more;
    }
    if let Some(&last) = kept.last() {
        widths[last] = widths[last].saturating_add(u16::try_from(spare).unwrap_or(0));
    }
    kept.into_iter().map(|i| (i, widths[i])).collect()
}

/// Draw a [`Spec`] in `area`.
pub fn draw_spec(theme: &Theme, frame: &mut Frame, area: Rect, spec: Spec<'_>) {
    let block = block(theme, spec.title);
    // Borders and the selection marker take three columns.
    let inner = area.width.saturating_sub(3);
    let cols = layout(spec.columns, &spec.rows, inner);
    let header = Row::new(
        cols.iter()
            .map(|(i, _)| Cell::from(spec.columns[*i].header))
            .collect::<Vec<_>>(),
    )
    .style(
        Style::default()
            .fg(theme.muted)
            .add_modifier(Modifier::BOLD),
    );
    let is_empty = spec.rows.is_empty();
    let rows: Vec<Row> = if is_empty {
        vec![
            Row::new(vec![Cell::from(Line::from(spec.empty.to_string()))])
                .style(Style::default().fg(theme.muted)),
        ]
    } else {
        spec.rows
            .into_iter()
            .map(|r| {
                let mut cells = r.cells;
                Row::new(
                    cols.iter()
                        .map(|(i, _)| match cells.get_mut(*i) {
                            Some(c) => Cell::from(std::mem::take(&mut c.line)),
                            None => Cell::from(""),
                        })
                        .collect::<Vec<_>>(),
                )
                .style(r.style)
            })
            .collect()
    };
    let widths: Vec<Constraint> = if is_empty {
        vec![Constraint::Min(1)]
    } else {
        cols.iter().map(|(_, w)| Constraint::Length(*w)).collect()
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(SPACING)
        .row_highlight_style(selection_style(theme))
        .highlight_symbol("▌");
    let mut ts = TableState::default();
    if !is_empty {
        ts.select(Some(spec.selected));
    }
    frame.render_stateful_widget(table, area, &mut ts);
}

/// A one-column list of lines (text views: a Dockerfile, a build's output).
#[allow(clippy::too_many_arguments)]
pub fn draw_lines(
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    title: String,
    header: String,
    lines: Vec<Line<'static>>,
    selected: usize,
    empty: &str,
) {
    let is_empty = lines.is_empty();
    let rows: Vec<Row> = if is_empty {
        vec![Row::new(vec![Cell::from(empty.to_string())]).style(Style::default().fg(theme.muted))]
    } else {
        lines
            .into_iter()
            .map(|l| Row::new(vec![Cell::from(l)]))
            .collect()
    };
    let table = Table::new(rows, [Constraint::Min(1)])
        .header(
            Row::new(vec![header]).style(
                Style::default()
                    .fg(theme.muted)
                    .add_modifier(Modifier::BOLD),
            ),
        )
        .block(block(theme, title))
        .row_highlight_style(selection_style(theme))
        .highlight_symbol("▌");
    let mut ts = TableState::default();
    if !is_empty {
        ts.select(Some(selected));
    }
    frame.render_stateful_widget(table, area, &mut ts);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> TRow {
        TRow::new(cells.iter().map(|c| TCell::plain(*c)).collect())
    }

    #[test]
    fn columns_drop_by_priority_not_by_cutting() {
        let cols = [
            Column::new("HOST", 0, 20),
            Column::new("STATE", 0, 12),
            Column::new("UPTIME", 3, 8),
            Column::new("VERSION", 1, 12),
            Column::text("DETAIL", 5, 8, 60),
        ];
        let rows = vec![row(&[
            "web-01",
            "restarting",
            "3m12s",
            "v2",
            "a long detail",
        ])];
        let wide = layout(&cols, &rows, 200);
        assert_eq!(wide.len(), 5);
        // "restarting" keeps its ten letters.
        assert_eq!(wide[1], (1, 10));
        let narrow = layout(&cols, &rows, 30);
        let kept: Vec<usize> = narrow.iter().map(|(i, _)| *i).collect();
        assert_eq!(kept, vec![0, 1, 3]);
        // The detail shrinks before it is dropped.
        let mid = layout(&cols, &rows, 50);
        assert_eq!(
            mid.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        let tiny = layout(&cols, &rows, 5);
        assert_eq!(tiny.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![0, 1]);
    }
}
