//! Drawing: pure functions of `&State` + `&Theme` onto a ratatui `Frame`.
//! No I/O, no locks, no mutation of state here.

pub mod format;
pub mod views;
pub mod widgets;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};

use crate::app::{State, View};
use crate::theme::Theme;

/// Draw the whole console.
pub fn draw(state: &State, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    // A fullscreen log: the lines alone, the footer only while typing.
    if matches!(state.screen().view, View::Logs { .. })
        && state.logs.as_ref().is_some_and(|p| p.fullscreen)
    {
        let typing = !matches!(state.mode, crate::app::Mode::Normal);
        let [body, footer] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(u16::from(typing))])
                .areas(area);
        views::logs::draw(state, theme, frame, body);
        if typing {
            widgets::footer::draw(state, theme, frame, footer);
        }
        if let crate::app::Mode::Help = state.mode {
            views::help::draw(state, theme, frame, area);
        }
        return;
    }
    // A message longer than the line gets the lines it needs (up to 3),
    // so it is never cut mid-word.
    let footer_lines = state
        .flash
        .as_ref()
        .filter(|_| matches!(state.mode, crate::app::Mode::Normal))
        .map(|f| {
            let w = usize::from(area.width.max(1));
            u16::try_from(unicode_width::UnicodeWidthStr::width(f.text.as_str()).div_ceil(w))
                .unwrap_or(3)
                .clamp(1, 3)
        })
        .unwrap_or(1);
    let [header, banner, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(state.banner_lines(area.width)),
        Constraint::Min(1),
        Constraint::Length(footer_lines),
    ])
    .areas(area);
    widgets::header::draw(state, theme, frame, header);
    widgets::banner::draw(state, theme, frame, banner);
    match &state.screen().view {
        View::Projects => views::projects::draw(state, theme, frame, body),
        View::Environments { project } => views::envs::draw(state, theme, frame, body, project),
        View::Hosts { project, env } => views::hosts::draw(state, theme, frame, body, project, env),
        View::Dockerfile { project } => {
            views::text::draw_dockerfile(state, theme, frame, body, project)
        }
        View::Tags { project } => views::tags::draw(state, theme, frame, body, project),
        View::Build { project } => views::text::draw_build(state, theme, frame, body, project),
        View::HostDetail { project, env, host } => {
            views::detail::draw(state, theme, frame, body, project, env, host)
        }
        View::Rollout { project, env } => {
            views::rollout::draw(state, theme, frame, body, project, env)
        }
        View::History { project, env } => {
            views::history::draw(state, theme, frame, body, project, env)
        }
        View::Release { release, .. } => {
            views::text::draw_release(state, theme, frame, body, release)
        }
        View::Logs { .. } => views::logs::draw(state, theme, frame, body),
        View::Health { project, env } => {
            views::health::draw(state, theme, frame, body, project, env)
        }
    }
    widgets::footer::draw(state, theme, frame, footer);
    match &state.mode {
        crate::app::Mode::Help => views::help::draw(state, theme, frame, area),
        crate::app::Mode::Confirm(c) => widgets::dialog::draw_confirm(c, theme, frame, area),
        crate::app::Mode::Pick(p) => widgets::dialog::draw_picker(p, theme, frame, area),
        _ => {}
    }
}
