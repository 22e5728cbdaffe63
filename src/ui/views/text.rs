//! Text views: a project's rendered Dockerfile (`d`) and the output of its
//! console build (`b`), one selectable line per row so `j`/`k`, `g`/`G` and
//! `/` work as in every list.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::State;
use crate::app::rows::text_rows;
use crate::app::state::{BuildStatus, Loadable};
use crate::theme::Theme;
use crate::ui::widgets::table;

/// Dockerfile instructions, coloured as keywords.
const INSTRUCTIONS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

fn dockerfile_line(theme: &Theme, line: String) -> Line<'static> {
    if line.trim_start().starts_with('#') {
        return Line::from(Span::styled(line, Style::default().fg(theme.muted)));
    }
    let word = line.split_whitespace().next().unwrap_or("");
    if INSTRUCTIONS.contains(&word.to_ascii_uppercase().as_str()) && line.starts_with(word) {
        let rest = line[word.len()..].to_string();
        return Line::from(vec![
            Span::styled(
                word.to_string(),
                Style::default()
                    .fg(theme.accent)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(rest),
        ]);
    }
    Line::from(line)
}

fn build_line(theme: &Theme, line: String) -> Line<'static> {
    let style = if line.starts_with("Step ") {
        Style::default()
            .fg(theme.accent)
            .add_modifier(Modifier::BOLD)
    } else if line.starts_with("build failed") || line.starts_with("push failed") {
        Style::default()
            .fg(theme.error)
            .add_modifier(Modifier::BOLD)
    } else if line.starts_with("build: succeeded") || line.starts_with("push: pushed") {
        Style::default().fg(theme.rollout_ok)
    } else if line.starts_with("build:") || line.starts_with("push:") {
        Style::default().fg(theme.title)
    } else {
        Style::default().fg(theme.fg)
    };
    Line::from(Span::styled(line, style))
}

/// A bordered paragraph for "loading" and error states.
pub fn message(
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    title: String,
    text: &str,
    error: bool,
) {
    let colour = if error { theme.error } else { theme.muted };
    frame.render_widget(
        Paragraph::new(text.to_string())
            .block(table::block(theme, title))
            .style(Style::default().fg(colour).bg(theme.bg))
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// Draws the loading or error message of `value` unless it is ready; true
/// when it is.
fn ready<T>(
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    title: &str,
    value: Option<&Loadable<T>>,
    loading: &str,
) -> bool {
    match value {
        Some(Loadable::Ready(_)) => true,
        Some(Loadable::Failed(e)) => {
            message(theme, frame, area, title.to_string(), e, true);
            false
        }
        None | Some(Loadable::Loading) => {
            message(theme, frame, area, title.to_string(), loading, false);
            false
        }
    }
}

pub fn draw_dockerfile(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str) {
    let screen = state.screen();
    let title = format!(" {project} › dockerfile ");
    if !ready(
        theme,
        frame,
        area,
        &title,
        state.dockerfiles.get(project),
        "rendering the template…",
    ) {
        return;
    }
    let lines = text_rows(state, &screen.view, &screen.filter);
    let source = state
        .config
        .project(project)
        .and_then(|p| p.build.as_ref())
        .map(|b| match &b.dockerfile {
            crate::config::DockerfileSource::Template { name, .. } => {
                format!("template {name}")
            }
            crate::config::DockerfileSource::File(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let title = if source.is_empty() {
        format!(" {project} › dockerfile ({} lines) ", lines.len())
    } else {
        format!(" {project} › dockerfile ({source}, {} lines) ", lines.len())
    };
    let rows = lines
        .into_iter()
        .map(|l| dockerfile_line(theme, l))
        .collect();
    table::draw_lines(
        theme,
        frame,
        area,
        title,
        "rendered with the project's vars; `b` builds it".into(),
        rows,
        screen.selected,
        "no line matches",
    );
}

pub fn draw_build(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, project: &str) {
    let screen = state.screen();
    let Some(pane) = state.builds.get(project) else {
        message(
            theme,
            frame,
            area,
            format!(" {project} › build "),
            "no build yet: press b to build and push this project's image",
            false,
        );
        return;
    };
    let status = match &pane.status {
        BuildStatus::Running => "running".to_string(),
        BuildStatus::Succeeded { digest: Some(d) } => format!("pushed {d}"),
        BuildStatus::Succeeded { digest: None } => "succeeded".to_string(),
        BuildStatus::Failed(_) => "FAILED".to_string(),
    };
    let title = format!(
        " {project} › build {} · {status} ",
        pane.version.as_deref().unwrap_or("")
    );
    let rows: Vec<Line<'static>> = text_rows(state, &screen.view, &screen.filter)
        .into_iter()
        .map(|l| build_line(theme, l))
        .collect();
    let header = match &pane.log {
        Some(log) => format!("whole log: {log}"),
        None => "starting…".to_string(),
    };
    table::draw_lines(
        theme,
        frame,
        area,
        title,
        header,
        rows,
        screen.selected,
        match &pane.status {
            BuildStatus::Failed(e) => e.as_str(),
            _ => "waiting for output…",
        },
    );
}

pub fn draw_release(state: &State, theme: &Theme, frame: &mut Frame, area: Rect, release: &str) {
    let screen = state.screen();
    let title = format!(" release {release} ");
    if !ready(
        theme,
        frame,
        area,
        &title,
        state.release_events.get(release),
        "reading the journal…",
    ) {
        return;
    }
    let rows = text_rows(state, &screen.view, &screen.filter)
        .into_iter()
        .map(Line::from)
        .collect();
    table::draw_lines(
        theme,
        frame,
        area,
        title,
        "the journal's records of this release, oldest first".into(),
        rows,
        screen.selected,
        "no line matches",
    );
}
