//! The logs view: lines of one or more containers, each prefixed with its
//! host in the host's colour (`!` for stderr), a status line with what the
//! buffer holds, what was dropped, the filter, the search's `x/y` and
//! whether the view follows the end. Only the rows on screen are built:
//! the view walks up from the bottom line until the area is full.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthChar;

use crate::app::State;
use crate::app::logs::{Kind, LogEntry, LogPane, PRESETS, thousands};
use crate::theme::Theme;
use crate::ui::widgets::table;

/// One styled piece of a row before it is cut to the width.
type Piece = (String, Style);

fn mib(bytes: usize) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1u32 << 20))
}

/// The status line: where the view stands and what it finds first, then
/// what the buffer holds and lost.
fn status(pane: &LogPane, theme: &Theme) -> Line<'static> {
    let muted = Style::default().fg(theme.muted);
    let (word, colour) = if pane.follow {
        ("following", theme.rollout_ok)
    } else {
        ("scrolled: G follows", theme.rollout_paused)
    };
    let mut spans = vec![Span::styled(
        word.to_string(),
        Style::default().fg(colour).add_modifier(Modifier::BOLD),
    )];
    if let (Some(s), Some((x, y))) = (pane.search(), pane.counter()) {
        spans.push(Span::styled(
            format!(" · search /{}/ {x}/{y}", s.text),
            Style::default()
                .fg(theme.search_current)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(f) = pane.filter() {
        spans.push(Span::styled(
            format!(
                " · filter /{}/ {} shown",
                f.text,
                thousands(pane.shown_len() as u64)
            ),
            Style::default().fg(theme.filter_match),
        ));
    }
    if pane.dropped > 0 {
        spans.push(Span::styled(
            format!(" · {} dropped", thousands(pane.dropped)),
            Style::default()
                .fg(theme.warning)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if pane.reconnects > 0 {
        spans.push(Span::styled(
            format!(" · {} reconnect(s)", pane.reconnects),
            Style::default().fg(theme.warning),
        ));
    }
    spans.push(Span::styled(
        format!(
            " · {} lines · buffer {} of {} MiB",
            thousands(pane.received),
            mib(pane.bytes()),
            mib(pane.budget)
        ),
        muted,
    ));
    if pane.evicted > 0 {
        spans.push(Span::styled(
            format!(" ({} older left)", thousands(pane.evicted)),
            muted,
        ));
    }
    spans.push(Span::styled(
        format!(
            " · since {}",
            PRESETS.get(pane.preset).copied().unwrap_or("all")
        ),
        muted,
    ));
    Line::from(spans)
}

/// Control characters and terminal escapes of a log line made harmless
/// (a tab becomes spaces; an escape sequence goes).
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    crate::domain::text::printable(text, "    ")
}

/// The pieces of one entry: time, host prefix, separator, text with the
/// search's hits marked.
fn pieces(pane: &LogPane, theme: &Theme, seq: u64, e: &LogEntry, label_w: usize) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::with_capacity(6);
    let muted = Style::default().fg(theme.muted);
    if pane.timestamps {
        let ts =
            e.ts.map(|t| t.format("%H:%M:%S%.3f ").to_string())
                .unwrap_or_else(|| "-            ".into());
        out.push((ts, muted));
    }
    let label = pane.label(e);
    let host = label.split(' ').next().unwrap_or(label);
    let text = printable(&e.text);
    if e.kind == Kind::Marker {
        out.push((
            text.into_owned(),
            Style::default()
                .fg(theme.log_marker)
                .add_modifier(Modifier::BOLD),
        ));
        return out;
    }
    out.push((
        format!("{label:label_w$}"),
        Style::default().fg(theme.host_colour(host)),
    ));
    let (sep, text_style) = match e.kind {
        Kind::Err => (" ! ", Style::default().fg(theme.log_stderr)),
        _ => (" │ ", Style::default().fg(theme.fg)),
    };
    out.push((sep.to_string(), muted));
    let Some(search) = pane.search() else {
        out.push((text.into_owned(), text_style));
        return out;
    };
    let hit_style = if pane.current_hit() == Some(seq) {
        Style::default()
            .fg(theme.bg)
            .bg(theme.search_current)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default()
            .fg(theme.search_match)
            .add_modifier(Modifier::REVERSED)
    };
    let mut at = 0;
    for (s, end) in search.find_iter(&text) {
        if s > at {
            out.push((text[at..s].to_string(), text_style));
        }
        out.push((text[s..end].to_string(), hit_style));
        at = end;
    }
    if at < text.len() {
        out.push((text[at..].to_string(), text_style));
    }
    out
}

/// Pieces as rows of at most `width` columns (wrapped), or one row cut.
fn rows(pieces: Vec<Piece>, width: usize, wrap: bool) -> Vec<Line<'static>> {
    if !wrap {
        return vec![Line::from(
            pieces
                .into_iter()
                .map(|(t, s)| Span::styled(t, s))
                .collect::<Vec<_>>(),
        )];
    }
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (text, style) in pieces {
        let mut chunk = String::new();
        for c in text.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width {
                if !chunk.is_empty() {
                    cur.push(Span::styled(std::mem::take(&mut chunk), style));
                }
                lines.push(Line::from(std::mem::take(&mut cur)));
                used = 0;
            }
            chunk.push(c);
            used += w;
        }
        if !chunk.is_empty() {
            cur.push(Span::styled(chunk, style));
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(Line::from(cur));
    }
    lines
}

/// The rows that fill `height` with the bottom line last.
pub fn visible(pane: &LogPane, theme: &Theme, width: usize, height: usize) -> Vec<Line<'static>> {
    let Some(bottom) = pane.bottom() else {
        return Vec::new();
    };
    let label_w = pane
        .sources
        .iter()
        .map(|s| unicode_width::UnicodeWidthStr::width(s.as_str()))
        .max()
        .unwrap_or(0);
    let mut stack: Vec<Vec<Line<'static>>> = Vec::new();
    let mut filled = 0;
    let mut i = bottom + 1;
    while filled < height && i > 0 {
        i -= 1;
        let Some(seq) = pane.shown_seq(i) else {
            break;
        };
        let Some(e) = pane.entry(seq) else { break };
        let r = rows(pieces(pane, theme, seq, e, label_w), width, pane.wrap);
        filled += r.len();
        stack.push(r);
    }
    let mut out: Vec<Line<'static>> = stack.into_iter().rev().flatten().collect();
    // A wrapped top line that does not fit shows its end.
    let extra = out.len().saturating_sub(height);
    out.drain(..extra);
    out
}

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let view = &state.screen().view;
    let Some(pane) = &state.logs else {
        super::text::message(
            theme,
            frame,
            area,
            format!(" {} ", view.title()),
            "no log stream: press L in a hosts, rollout or environments view",
            false,
        );
        return;
    };
    let base = Style::default().fg(theme.fg).bg(theme.bg);
    let inner = if pane.fullscreen {
        frame.render_widget(Block::default().style(base), area);
        area
    } else {
        let hosts = match pane.targets.hosts.as_slice() {
            [one] => one.clone(),
            many => format!("{} hosts", many.len()),
        };
        let title = format!(" {} · {hosts} ", view.title());
        let block = table::block(theme, title);
        let inner = block.inner(area);
        frame.render_widget(block.style(base), area);
        if inner.height == 0 {
            return;
        }
        frame.render_widget(
            Paragraph::new(status(pane, theme)).style(base),
            Rect { height: 1, ..inner },
        );
        Rect {
            y: inner.y + 1,
            height: inner.height - 1,
            ..inner
        }
    };
    if pane.shown_len() == 0 {
        let text = if pane.filter().is_some() {
            "no line matches the filter (esc clears it)"
        } else {
            "waiting for the first line…"
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, Style::default().fg(theme.muted))).style(base),
            inner,
        );
        return;
    }
    let lines = visible(
        pane,
        theme,
        usize::from(inner.width),
        usize::from(inner.height),
    );
    // Row by row into the buffer (the rows are cut or wrapped already):
    // a paragraph would reflow every row again, each frame of a flood.
    let buf = frame.buffer_mut();
    buf.set_style(inner, base);
    for (y, line) in (inner.y..inner.bottom()).zip(&lines) {
        buf.set_line(inner.x, y, line, inner.width);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_are_taken_out() {
        assert_eq!(printable("plain"), "plain");
        assert_eq!(printable("\u{1b}[31mred\u{1b}[0m\tok\r"), "red    ok");
    }
}
