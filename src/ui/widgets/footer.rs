//! The bottom line: the filter or palette being typed, a message, or key
//! hints. Hints come from the keymap in force and the view's commands; a
//! read-only console never offers a key it would refuse.

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{Command, Mode, State, View};
use crate::theme::Theme;

/// The commands a view offers in its footer, most useful first.
pub fn hints(view: &View) -> &'static [Command] {
    use Command::*;
    match view {
        View::Projects => &[Enter, Tags, Build, Dockerfile, Filter, Palette, Help, Quit],
        View::Environments { .. } => &[
            Enter, Deploy, Promote, Rollback, Rollout, History, Logs, Resume, Back, Palette, Help,
            Quit,
        ],
        View::Hosts { .. } => &[
            Enter,
            Deploy,
            Rollback,
            Rollout,
            History,
            Logs,
            HealthTimeline,
            Restart,
            Shell,
            Sort,
            Back,
            Help,
            Quit,
        ],
        View::HostDetail { .. } => &[Back, Logs, Restart, Stop, Start, Shell, Help, Quit],
        View::Rollout { .. } => &[
            PauseResume,
            Abort,
            Retry,
            Rollback,
            Logs,
            History,
            HealthTimeline,
            Back,
            Help,
            Quit,
        ],
        View::History { .. } => &[Enter, Rollback, Filter, Back, Help, Quit],
        View::Release { .. } => &[Back, Filter, Help, Quit],
        View::Dockerfile { .. } => &[Back, Build, Tags, Filter, Help, Quit],
        View::Tags { .. } => &[Back, Tags, Build, Filter, Help, Quit],
        View::Build { .. } => &[Back, Bottom, Tags, Filter, Help, Quit],
        View::Logs { .. } => &[
            Filter, Search, SearchNext, Bottom, Timestamps, Wrap, Since, SaveLogs, Fullscreen,
            Back, Help,
        ],
        View::Health { .. } => &[Logs, Enter, Rollout, History, Back, Help, Quit],
    }
}

/// Whether `cmd` means something now (Argo's lesson: no button that looks
/// active but cannot act): pause and abort only while a rollout runs, retry
/// only after one with failed hosts, resume only for an unfinished release.
fn offered(state: &State, cmd: Command) -> bool {
    let view = &state.screen().view;
    let (Some(p), Some(e)) = (view.project(), view.env()) else {
        return !matches!(cmd, Command::PauseResume | Command::Abort | Command::Retry);
    };
    let r = state.env_releases(p, e);
    let running = r.is_some_and(|r| r.running_here() || r.other_rollout().is_some());
    match cmd {
        Command::PauseResume | Command::Abort => running,
        Command::Retry => r
            .and_then(|r| r.rollout.as_ref())
            .is_some_and(|x| !x.running() && !x.failed_hosts().is_empty()),
        Command::Resume => r.is_some_and(|r| r.interrupted().is_some()),
        Command::Deploy | Command::Promote | Command::Rollback => !running,
        _ => true,
    }
}

pub fn draw(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let base = Style::default().fg(theme.fg).bg(theme.bg);
    let (prefix, input) = match &state.mode {
        Mode::Filter(i) => ("/", Some(i)),
        Mode::Palette(i) => (":", Some(i)),
        Mode::Search(i) => ("search: ", Some(i)),
        _ => ("", None),
    };
    if let Some(input) = input {
        let line = Line::from(vec![
            Span::styled(prefix, base.fg(theme.accent).add_modifier(Modifier::BOLD)),
            Span::styled(input.value().to_string(), base),
        ]);
        frame.render_widget(Paragraph::new(line).style(base), area);
        let x = area.x
            + u16::try_from(prefix.chars().count() + input.visual_cursor()).unwrap_or(u16::MAX);
        frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
        return;
    }
    if let Some(flash) = &state.flash {
        let colour = if flash.error { theme.error } else { theme.fg };
        // Wrapped, never cut mid-word: the footer is one line, so a long
        // message shows its start whole-word and the rest in the log.
        frame.render_widget(
            Paragraph::new(Span::styled(flash.text.clone(), base.fg(colour)))
                .style(base)
                .wrap(Wrap { trim: true }),
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
    let mut width = 0usize;
    for cmd in hints(&state.screen().view) {
        if state.refusal(*cmd).is_some() || !offered(state, *cmd) {
            continue;
        }
        let keys = state.keymap.keys_for(*cmd);
        let Some(key) = keys.first() else { continue };
        let hint = cmd.info().hint;
        let item = key.chars().count() + hint.chars().count() + 5;
        // Whole hints only: the next one is left out rather than cut.
        if width + item > usize::from(area.width) {
            break;
        }
        width += item;
        spans.push(Span::styled(
            format!("<{key}>"),
            base.fg(theme.key_hint).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!(" {hint}  "), base.fg(theme.muted)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}
