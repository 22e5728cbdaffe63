//! Frame render time of the console with 200 hosts in view (issue 9).
//!
//!     cargo bench --bench render                 # or: target/release/deps/render-* --frames 2000
//!     cargo bench --bench render -- --frames 500 --json
//!
//! A `State` is built from a generated config (200 hosts `r001..r200`, four
//! projects, `web` and `api` with all 200 hosts in `prod`) and a FAKE fleet:
//! `FleetUpdate::Connected` reports made in memory, no engine, no network.
//! Each view (hosts of web/prod, environments of web, projects) is then drawn
//! with `shipdeck::ui::draw` on ratatui's `TestBackend` (200 x 60) for
//! `--frames` frames; before every frame one container changes (its health
//! flips and its restart count goes up) through `Action::Fleet`, the way a
//! watcher's report arrives. Only the `terminal.draw()` call is timed (the
//! `update` is timed apart). Prints mean / p50 / p99 / max per frame in ms.
//! Figures and method: benches/README.md, section "Console".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use shipdeck::app::state::Screen;
use shipdeck::app::{Action, State, View, update};
use shipdeck::domain::{AppContainer, ContainerState, FleetUpdate, Health, Role};

const HOSTS: usize = 200;
const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;
const PROJECTS: [&str; 4] = ["web", "api", "worker", "admin"];

fn host(i: usize) -> String {
    format!("r{i:03}")
}

/// The config: 200 hosts, web and api on all of them in prod, worker and
/// admin on slices, dev/staging on a few.
fn config_toml() -> String {
    let mut s = String::from(
        "[[environments]]\nname = \"dev\"\n[[environments]]\nname = \"staging\"\n\
         [[environments]]\nname = \"prod\"\nconfirm = true\n\n",
    );
    for i in 1..=HOSTS {
        s.push_str(&format!(
            "[[hosts]]\nname = \"{}\"\nendpoint = \"tcp://10.99.{}.{}:2375\"\n\n",
            host(i),
            i / 250,
            i % 250 + 1
        ));
    }
    let list = |r: std::ops::RangeInclusive<usize>| {
        r.map(|i| format!("\"{}\"", host(i)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (n, p) in PROJECTS.iter().enumerate() {
        let prod = if n < 2 { 1..=HOSTS } else { 1..=(HOSTS / 2) };
        s.push_str(&format!(
            "[[projects]]\nname = \"{p}\"\nimage = \"registry.example.com/{p}\"\n\
             [projects.hosts]\ndev = [{}]\nstaging = [{}]\nprod = [{}]\n\n",
            list(1..=2),
            list(3..=6),
            list(prod)
        ));
    }
    s
}

fn container(
    project: &str,
    env: &str,
    host: &str,
    version: &str,
    now: chrono::DateTime<Utc>,
) -> AppContainer {
    AppContainer {
        id: format!("{project}-{env}-{host}"),
        name: format!("{project}.{env}"),
        project: project.into(),
        env: env.into(),
        version: version.into(),
        release: Some("r-20261201-1".into()),
        digest: Some(format!("sha256:{}", "ab".repeat(32))),
        image: format!("registry.example.com/{project}:{version}"),
        role: Role::Serving,
        restart_policy: "always".into(),
        restart_original: Some("always".into()),
        deployed_by: Some("bench@render".into()),
        deployed_at: None,
        state: ContainerState::Running,
        health: Health::Healthy,
        started_at: Some(now - chrono::Duration::seconds(3600)),
        restarts: 0,
        exit_code: None,
    }
}

/// The fake fleet: every host Connected (in memory) with the containers its
/// config gives it.
fn fake_fleet(state: &mut State) -> Vec<(String, AppContainer)> {
    let now = state.now;
    let mut changeable = Vec::new();
    let cfg = state.config.clone();
    let mut by_host: std::collections::BTreeMap<String, Vec<AppContainer>> = Default::default();
    for p in &cfg.projects {
        for (env, hosts) in &p.hosts {
            for h in hosts {
                let c = container(&p.name, env, h, "v2", now);
                if p.name == "web" && env == "prod" {
                    changeable.push((h.clone(), c.clone()));
                }
                by_host.entry(h.clone()).or_default().push(c);
            }
        }
    }
    for h in &cfg.hosts {
        let containers = by_host.remove(&h.name).unwrap_or_default();
        update(
            state,
            Action::Fleet(FleetUpdate::Connected {
                host: h.name.clone(),
                api_version: "1.47".into(),
                containers,
            }),
        );
    }
    changeable
}

struct Stats {
    mean: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

fn stats(mut xs: Vec<Duration>) -> Stats {
    xs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = xs.len();
    let pct = |p: f64| ms(xs[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]);
    Stats {
        mean: xs.iter().map(|d| ms(*d)).sum::<f64>() / n as f64,
        p50: pct(0.50),
        p99: pct(0.99),
        max: ms(xs[n - 1]),
    }
}

fn bench_view(name: &str, view: View, frames: usize, json: bool) -> Stats {
    let config =
        shipdeck::config::load_str(&config_toml(), Path::new("bench-render.toml")).expect("config");
    let theme = shipdeck::theme::load("default", None, false).expect("theme");
    let mut state = State::new(Arc::new(config), Utc::now());
    update(&mut state, Action::Resize(WIDTH, HEIGHT));
    let mut changeable = fake_fleet(&mut state);
    state.stack.push(Screen::new(view));
    let mut term = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("terminal");
    // Warm-up: the first frames fill the buffers.
    for _ in 0..20 {
        term.draw(|f| shipdeck::ui::draw(&state, &theme, f))
            .expect("draw");
    }
    let mut draws = Vec::with_capacity(frames);
    let mut updates = Vec::with_capacity(frames);
    for i in 0..frames {
        let k = (i * 37) % changeable.len();
        let (host, c) = &mut changeable[k];
        c.health = if c.health == Health::Healthy {
            Health::Unhealthy
        } else {
            Health::Healthy
        };
        c.restarts += 1;
        let t = Instant::now();
        update(
            &mut state,
            Action::Fleet(FleetUpdate::Container {
                host: host.clone(),
                container: Box::new(c.clone()),
            }),
        );
        updates.push(t.elapsed());
        let t = Instant::now();
        term.draw(|f| shipdeck::ui::draw(&state, &theme, f))
            .expect("draw");
        draws.push(t.elapsed());
        state.dirty = false;
    }
    let screen = term.backend().to_string();
    let rows = screen
        .lines()
        .filter(|l| l.contains(" r0") || l.contains(" r1") || l.contains(" r2"))
        .count();
    let d = stats(draws);
    let u = stats(updates);
    if json {
        println!(
            "{{\"view\":\"{name}\",\"frames\":{frames},\"mean_ms\":{:.4},\"p50_ms\":{:.4},\"p99_ms\":{:.4},\"max_ms\":{:.4},\"update_mean_ms\":{:.4},\"update_p99_ms\":{:.4},\"host_rows_on_screen\":{rows}}}",
            d.mean, d.p50, d.p99, d.max, u.mean, u.p99
        );
    } else {
        println!(
            "{name:<22} {frames:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.3}   {:>9.4} {:>9.4}",
            d.mean, d.p50, d.p99, d.max, u.mean, u.p99
        );
    }
    d
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut frames = 2000usize;
    let mut json = false;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--frames" => {
                frames = args
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .expect("--frames N");
                i += 1;
            }
            "--json" => json = true,
            // `cargo bench` passes --bench; libtest flags are ignored.
            _ => {}
        }
        i += 1;
    }
    if !json {
        println!(
            "render bench: {HOSTS} hosts, fake fleet (in-memory Connected updates), TestBackend {WIDTH}x{HEIGHT}, {frames} frames per view"
        );
        println!(
            "{:<22} {:>6} {:>9} {:>9} {:>9} {:>9}   {:>9} {:>9}",
            "view", "frames", "mean ms", "p50 ms", "p99 ms", "max ms", "upd mean", "upd p99"
        );
    }
    bench_view(
        "hosts web/prod (200)",
        View::Hosts {
            project: "web".into(),
            env: "prod".into(),
        },
        frames,
        json,
    );
    bench_view(
        "environments web",
        View::Environments {
            project: "web".into(),
        },
        frames,
        json,
    );
    bench_view("projects", View::Projects, frames, json);
}
