//! One file per screen. Each `draw` is a pure function of state and theme.

pub mod detail;
pub mod envs;
pub mod health;
pub mod help;
pub mod history;
pub mod hosts;
pub mod logs;
pub mod projects;
pub mod rollout;
pub mod tags;
pub mod text;

use ratatui::style::{Color, Style};

use crate::app::rows::EnvSummary;
use crate::domain::{ContainerState, Health, Reachability};
use crate::theme::Theme;

/// Colour of an environment summary's verdict.
pub fn verdict_colour(theme: &Theme, s: &EnvSummary) -> Color {
    use crate::domain::summary::Verdict;
    match s.verdict() {
        Verdict::Ok => theme.health_ok,
        Verdict::Mixed | Verdict::Starting => theme.health_starting,
        Verdict::NoHosts | Verdict::Empty => theme.muted,
        Verdict::Degraded => theme.health_bad,
    }
}

pub fn health_style(theme: &Theme, h: Health) -> Style {
    Style::default().fg(match h {
        Health::Healthy => theme.health_ok,
        Health::Unhealthy => theme.health_bad,
        Health::Starting => theme.health_starting,
        Health::None => theme.health_none,
    })
}

pub fn state_style(theme: &Theme, s: ContainerState) -> Style {
    Style::default().fg(match s {
        ContainerState::Running => theme.state_running,
        ContainerState::Exited | ContainerState::Dead => theme.state_stopped,
        _ => theme.state_other,
    })
}

pub fn reach_style(theme: &Theme, r: &Reachability) -> Style {
    Style::default().fg(match r {
        Reachability::Reachable { .. } => theme.host_reachable,
        Reachability::Unreachable { .. } => theme.host_unreachable,
        Reachability::Connecting => theme.host_connecting,
    })
}
