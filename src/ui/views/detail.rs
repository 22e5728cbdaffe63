//! One host of an environment in detail: its engine, its serving container
//! (image, digest, labels, ports, restart policy and count, exit code) and
//! the kept and retired containers beside it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::State;
use crate::domain::Reachability;
use crate::domain::summary::{duration_short, health_text, state_text};
use crate::theme::Theme;
use crate::ui::widgets::table;

pub fn draw(
    state: &State,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    project: &str,
    env: &str,
    host: &str,
) {
    let key = Style::default().fg(theme.muted);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let kv = |k: &str, v: String| {
        Line::from(vec![Span::styled(format!("{k:>16}  "), key), Span::raw(v)])
    };
    let mut lines = Vec::new();
    let Some(h) = state.fleet.hosts.get(host) else {
        super::text::message(
            theme,
            frame,
            area,
            format!(" {host} "),
            "not in the inventory",
            true,
        );
        return;
    };
    lines.push(kv("engine", format!("{} ({})", h.endpoint, h.reach.word())));
    match &h.reach {
        Reachability::Reachable { api_version } => lines.push(kv("api", api_version.clone())),
        Reachability::Unreachable { error, retry_at } => {
            lines.push(kv(
                "unreachable",
                format!(
                    "since {} · retry in {}s (ctrl-r now) · {error}",
                    h.unreachable_since
                        .map(|t| t.format("%H:%M:%S").to_string())
                        .unwrap_or_else(|| "?".into()),
                    (*retry_at - state.now).num_seconds().max(0)
                ),
            ));
            lines.push(Line::from(Span::styled(
                "                  what follows is the last thing seen",
                Style::default().fg(theme.warning),
            )));
        }
        Reachability::Connecting => {}
    }
    lines.push(Line::from(""));
    match h.app_container(project, env) {
        None => lines.push(Line::from(Span::styled(
            format!("no serving container of {project} in {env} on {host}"),
            Style::default()
                .fg(theme.warning)
                .add_modifier(Modifier::BOLD),
        ))),
        Some(c) => {
            lines.push(Line::from(Span::styled(
                format!("serving: {}", c.name),
                bold,
            )));
            lines.push(kv("container", c.id.chars().take(12).collect()));
            lines.push(kv("state", state_text(c)));
            lines.push(kv("health", health_text(c).to_string()));
            lines.push(kv("version", c.version.clone()));
            lines.push(kv("image", c.image.clone()));
            lines.push(kv("digest", c.digest.clone().unwrap_or_else(|| "-".into())));
            lines.push(kv(
                "release",
                c.release.clone().unwrap_or_else(|| "-".into()),
            ));
            lines.push(kv(
                "deployed",
                format!(
                    "{} by {}",
                    c.deployed_at.clone().unwrap_or_else(|| "-".into()),
                    c.deployed_by.clone().unwrap_or_else(|| "-".into())
                ),
            ));
            lines.push(kv(
                "uptime",
                c.uptime_secs(state.now)
                    .map(duration_short)
                    .unwrap_or_else(|| "-".into()),
            ));
            lines.push(kv("restarts", c.restarts.to_string()));
            if let Some(p) = state.config.project(project) {
                let h = &p.health;
                let probe = match (&h.http_path, h.tcp) {
                    (Some(path), _) => format!("HTTP GET :{}{path}", h.port),
                    (None, true) => format!("TCP :{}", h.port),
                    (None, false) => "Docker HEALTHCHECK only".to_string(),
                };
                lines.push(kv("probe", probe));
                let ports = match p.container.network {
                    crate::config::NetworkMode::Host => {
                        "host network (the app's own ports)".to_string()
                    }
                    crate::config::NetworkMode::Bridge if p.container.ports.is_empty() => {
                        "bridge, none published".to_string()
                    }
                    crate::config::NetworkMode::Bridge => p.container.ports.join(", "),
                };
                lines.push(kv("ports", ports));
            }
            lines.push(kv(
                "restart policy",
                match &c.restart_original {
                    Some(o) if *o != c.restart_policy => {
                        format!("{} (created with {o})", c.restart_policy)
                    }
                    _ => c.restart_policy.clone(),
                },
            ));
        }
    }
    let others: Vec<_> = h
        .containers_of(project, env)
        .into_iter()
        .filter(|c| c.role != crate::domain::Role::Serving)
        .collect();
    if !others.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("kept and retired:", bold)));
        for c in others {
            lines.push(Line::from(format!(
                "  {:<8} {:<12} {:<10} {}",
                c.role.word(),
                c.version,
                state_text(c),
                c.name
            )));
        }
    }
    if let Some(p) = state
        .env_releases(project, env)
        .and_then(|r| r.rollout.as_ref())
        .and_then(|p| p.hosts.get(host))
    {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("last rollout here:", bold)));
        lines.push(Line::from(format!(
            "  {}",
            crate::app::update::phase_word(p.phase)
        )));
        if let Some(d) = &p.detail {
            lines.push(Line::from("  last probe output:"));
            for l in d.lines().take(6) {
                lines.push(Line::from(format!("    {l}")));
            }
        }
    }
    if let Some(events) = state.host_events.get(host).filter(|e| !e.is_empty()) {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(
            "last events (this console):",
            bold,
        )));
        for e in events.iter().rev().take(10) {
            lines.push(Line::from(Span::styled(format!("  {e}"), key)));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(table::block(theme, format!(" {project} › {env} › {host} "))),
        area,
    );
}
