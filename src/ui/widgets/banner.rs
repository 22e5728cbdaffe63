//! The line under the header of a console opened without an inventory
//! file: which engine it shows, that it changes nothing, and how to write
//! an inventory to do more.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::State;
use crate::theme::Theme;

/// Draw the banner (nothing when the console has an inventory).
pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(n) = &state.no_inventory else {
        return;
    };
    let base = Style::default().fg(theme.fg).bg(theme.bg);
    let line = Line::from(Span::styled(
        n.banner(),
        base.fg(theme.warning).add_modifier(Modifier::BOLD),
    ));
    frame.render_widget(
        Paragraph::new(line).style(base).wrap(Wrap { trim: true }),
        area,
    );
}
