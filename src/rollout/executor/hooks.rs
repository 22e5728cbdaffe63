//! Hooks (`[[projects.hooks]]`): at `pre_rollout`, `pre_host`, `post_host`,
//! `post_batch`, `post_rollout` and `on_failure`, POST the release's facts
//! as JSON (with a Slack-compatible `text`) or run a command (argv, no
//! shell) with them as `SHIPDECK_*` variables and the JSON on stdin. Each
//! run is an event and a journal line. Neither payload nor environment
//! carries a secret: the facts hold none, and a command starts from an
//! empty environment (only PATH, HOME, the locale and the like pass), so a
//! secret read from shipdeck's own environment (`env:NAME`) stays there.

use std::process::Stdio;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::config::{Hook, HookPoint, HookRun};

/// Variables of shipdeck's environment a command hook sees; everything
/// else is left out.
const PASSED_ENV: [&str; 8] = [
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
];

/// What a hook's output may add to a failure message.
const DETAIL_MAX: usize = 300;

/// The facts of a release a hook is told: the JSON payload, and the
/// `SHIPDECK_*` variables of a command.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HookFacts {
    /// Slack-compatible one line: who does what where, how it went.
    pub text: String,
    pub event: HookPoint,
    pub release: String,
    pub project: String,
    pub env: String,
    pub action: Action,
    pub version: String,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Every host of the release.
    pub hosts: Vec<String>,
    pub batches: usize,
    /// pre_host / post_host: the host, and where its containers listen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_address: Option<String>,
    /// pre_host / post_host / post_batch: the batch (1-based) and its hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_hosts: Option<Vec<String>>,
    /// post_host: `healthy`, `skipped` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// post_rollout / on_failure: how the release ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// What failed (post_host of a failed host, on_failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HookFacts {
    /// The facts of a release, before any hook point is set.
    pub(crate) fn new(req: &Request, release: &str, intent: &Intent, plan: &Plan) -> Self {
        Self {
            text: String::new(),
            event: HookPoint::PreRollout,
            release: release.to_string(),
            project: req.project.clone(),
            env: req.env.clone(),
            action: intent.action,
            version: intent.version.clone(),
            image: plan.image.clone(),
            digest: intent.digest.clone(),
            user: req.user.clone(),
            message: req.message.clone(),
            hosts: plan.hosts.clone(),
            batches: plan.batches.len(),
            host: None,
            host_address: None,
            batch: None,
            batch_hosts: None,
            result: None,
            outcome: None,
            error: None,
        }
    }

    /// These facts at `point`, with their `text`.
    pub(crate) fn at(&self, point: HookPoint) -> Self {
        let mut f = self.clone();
        f.event = point;
        f.text = f.sentence();
        f
    }

    fn sentence(&self) -> String {
        let what = format!(
            "{} {} {}:{} to {}/{}",
            self.user,
            self.action.word(),
            self.project,
            self.version,
            self.project,
            self.env
        );
        let host = self.host.as_deref().unwrap_or("?");
        let batch = self.batch.unwrap_or(0);
        match self.event {
            HookPoint::PreRollout => format!(
                "shipdeck: {what} starting ({} hosts, {} batches, release {}){}",
                self.hosts.len(),
                self.batches,
                self.release,
                if self.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", self.message)
                }
            ),
            HookPoint::PreHost => format!("shipdeck: {what}: {host} next (batch {batch})"),
            HookPoint::PostHost => format!(
                "shipdeck: {what}: {host} {}",
                self.result.as_deref().unwrap_or("done")
            ),
            HookPoint::PostBatch => format!(
                "shipdeck: {what}: batch {batch}/{} done ({})",
                self.batches,
                self.batch_hosts.as_deref().unwrap_or_default().join(", ")
            ),
            HookPoint::PostRollout | HookPoint::OnFailure => format!(
                "shipdeck: {what} {}{}",
                self.outcome.map(Outcome::word).unwrap_or("ended"),
                self.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
        }
    }

    /// `SHIPDECK_*` variables for a command.
    fn vars(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("SHIPDECK_EVENT", self.event.word().to_string()),
            ("SHIPDECK_TEXT", self.text.clone()),
            ("SHIPDECK_RELEASE", self.release.clone()),
            ("SHIPDECK_PROJECT", self.project.clone()),
            ("SHIPDECK_ENV", self.env.clone()),
            ("SHIPDECK_ACTION", self.action.word().to_string()),
            ("SHIPDECK_VERSION", self.version.clone()),
            ("SHIPDECK_IMAGE", self.image.clone()),
            ("SHIPDECK_USER", self.user.clone()),
            ("SHIPDECK_MESSAGE", self.message.clone()),
            ("SHIPDECK_HOSTS", self.hosts.join(",")),
            ("SHIPDECK_BATCHES", self.batches.to_string()),
        ];
        let opt = [
            ("SHIPDECK_DIGEST", self.digest.clone()),
            ("SHIPDECK_HOST", self.host.clone()),
            ("SHIPDECK_HOST_ADDRESS", self.host_address.clone()),
            ("SHIPDECK_BATCH", self.batch.map(|b| b.to_string())),
            (
                "SHIPDECK_BATCH_HOSTS",
                self.batch_hosts.as_ref().map(|h| h.join(",")),
            ),
            ("SHIPDECK_RESULT", self.result.clone()),
            (
                "SHIPDECK_OUTCOME",
                self.outcome.map(|o| o.word().to_string()),
            ),
            ("SHIPDECK_ERROR", self.error.clone()),
        ];
        v.extend(opt.into_iter().filter_map(|(k, x)| x.map(|x| (k, x))));
        v
    }
}

/// `s` on one line, cut to `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

impl Runner {
    /// Run the hooks of `point` for `facts`, in file order; each is an
    /// event and a journal line. `Err` (the first failure that stops
    /// something: a gate's, or a `required` hook's) says which and why; a
    /// gate's failure skips the gates after it.
    pub(super) async fn hooks(
        &self,
        req: &Request,
        project: &Project,
        point: HookPoint,
        facts: &HookFacts,
    ) -> Result<(), String> {
        let hooks = project.hooks_at(&req.env, point);
        if hooks.is_empty() {
            return Ok(());
        }
        let facts = facts.at(point);
        let mut first_err = None;
        for hook in hooks {
            let t0 = Instant::now();
            let required = point.gates() || hook.required;
            let outcome = self.run_hook(hook, &facts).await;
            let (ok, detail) = match &outcome {
                Ok(d) => (true, d.clone()),
                Err(e) => (false, e.clone()),
            };
            let took = secs(t0);
            self.emit(RolloutEvent::Hook {
                on: point,
                hook: hook.label(),
                host: facts.host.clone(),
                ok,
                secs: took,
                detail: detail.clone(),
                required,
            });
            let rec = RecordKind::Hook {
                on: point,
                hook: hook.label(),
                host: facts.host.clone(),
                ok,
                secs: took,
                detail: detail.clone(),
            };
            if let Err(e) = self.record(req, &facts.release, rec) {
                warn!(error = %e, "journal: a hook's result was not recorded");
            }
            if !ok && required && first_err.is_none() {
                first_err = Some(format!(
                    "the {} hook ({}) failed: {detail}",
                    point.word(),
                    hook.label()
                ));
                if point.gates() {
                    break;
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One hook: `Ok(detail)` when it succeeded (`HTTP 200`, `exit 0`).
    async fn run_hook(&self, hook: &Hook, facts: &HookFacts) -> Result<String, String> {
        let limit = Duration::from_millis(hook.timeout_ms);
        let run = async {
            match &hook.run {
                HookRun::Webhook {
                    url,
                    headers,
                    secret_headers,
                } => self.webhook(url, headers, secret_headers, facts).await,
                HookRun::Command { argv } => command(argv, facts).await,
            }
        };
        match tokio::time::timeout(limit, run).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within its timeout ({}); raise `timeout` in the hook, or look at what it calls",
                humantime::format_duration(limit)
            )),
        }
    }

    async fn webhook(
        &self,
        url: &str,
        headers: &std::collections::BTreeMap<String, String>,
        secret_headers: &std::collections::BTreeMap<String, crate::config::SecretRef>,
        facts: &HookFacts,
    ) -> Result<String, String> {
        let mut rq = self.http.post(url).json(facts);
        for (k, v) in headers {
            rq = rq.header(k, v);
        }
        for (k, r) in secret_headers {
            let s = r
                .resolve()
                .map_err(|e| format!("its header {k}: {e} (nothing was sent)"))?;
            let mut value = reqwest::header::HeaderValue::from_str(s.expose())
                .map_err(|_| format!("its header {k}: the secret {r:?} is not a valid header value (nothing was sent)"))?;
            value.set_sensitive(true);
            rq = rq.header(k, value);
        }
        // The error's URL could carry a token in its query: left out.
        let resp = rq.send().await.map_err(|e| {
            let e = e.without_url();
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            format!("the request failed: {msg}")
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(format!("HTTP {}", status.as_u16()));
        }
        let body = resp.text().await.unwrap_or_default();
        let body = one_line(&body, DETAIL_MAX);
        Err(if body.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {body}")
        })
    }
}

/// Run `argv` with the facts as variables and as JSON on stdin; killed
/// when the timeout drops it.
async fn command(argv: &[String], facts: &HookFacts) -> Result<String, String> {
    let Some((prog, args)) = argv.split_first() else {
        return Err("no program to run".into());
    };
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for k in PASSED_ENV {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    for (k, v) in facts.vars() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| {
        format!("could not start {prog:?}: {e}; check the path and that it is executable")
    })?;
    let payload = serde_json::to_vec(facts).unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        // A program that does not read its input is fine.
        let _ = stdin.write_all(&payload).await;
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let mut buf = Vec::new();
        let _ = (&mut e).take(64 * 1024).read_to_end(&mut buf).await;
        stderr = String::from_utf8_lossy(&buf).into_owned();
    }
    let status = child
        .wait()
        .await
        .map_err(|e| format!("waiting for {prog:?} failed: {e}"))?;
    if status.success() {
        return Ok("exit 0".into());
    }
    let why = match status.code() {
        Some(c) => format!("exit {c}"),
        None => "killed by a signal".to_string(),
    };
    let tail = one_line(stderr.lines().last().unwrap_or(""), DETAIL_MAX);
    Err(if tail.is_empty() {
        format!("{prog} ended with {why}")
    } else {
        format!("{prog} ended with {why}: {tail}")
    })
}

impl Runner {
    /// One host's turn with its hooks: `pre_host` first (a failure leaves
    /// the host as it was and fails it, like a failed health gate), then
    /// the replacement, then `post_host` whatever happened (it is told the
    /// result). A host that is skipped runs no hook. Returns the result and
    /// a required `post_host` hook's failure.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn replace_host_hooked(
        &self,
        req: &Request,
        h: HostPlan,
        spec: CreateSpec,
        project: &Project,
        lock: &FleetLock,
        cancel: CancellationToken,
        pruner: &host::Pruner,
        mut facts: HookFacts,
    ) -> (HostResult, Option<String>) {
        if h.skip {
            return (
                self.replace_host(h, spec, project, lock, cancel, pruner)
                    .await,
                None,
            );
        }
        let host = h.engine.host.clone();
        let t0 = Instant::now();
        let r = match self.hooks(req, project, HookPoint::PreHost, &facts).await {
            Err(why) => {
                self.host_event(&host, HostPhase::Failed, t0, Some(why.clone()));
                HostResult::Failed(HostFailure {
                    host: host.clone(),
                    step: host::Step::Hook(why),
                    restore: host::Restore::Untouched(
                        h.serving.as_ref().map(|c| c.version.clone()),
                    ),
                })
            }
            Ok(()) => {
                self.replace_host(h, spec, project, lock, cancel, pruner)
                    .await
            }
        };
        let (result, error) = match &r {
            HostResult::Skipped => ("skipped", None),
            HostResult::Replaced(_) => ("healthy", None),
            HostResult::Failed(f) => ("failed", Some(f.sentence())),
        };
        facts.result = Some(result.to_string());
        facts.error = error;
        let post = self
            .hooks(req, project, HookPoint::PostHost, &facts)
            .await
            .err();
        (r, post)
    }

    /// `post_rollout` (always) and `on_failure` (when the outcome is not
    /// `succeeded`) for a release that ended with `outcome`. Returns a
    /// required hook's failure.
    pub(super) async fn end_hooks(
        &self,
        req: &Request,
        project: &Project,
        facts: &HookFacts,
        outcome: Outcome,
        message: &str,
    ) -> Option<String> {
        let mut facts = facts.clone();
        facts.outcome = Some(outcome);
        if outcome != Outcome::Succeeded && !message.is_empty() {
            facts.error = Some(message.to_string());
        }
        let mut failed = self
            .hooks(req, project, HookPoint::PostRollout, &facts)
            .await
            .err();
        if outcome != Outcome::Succeeded
            && let Err(e) = self.hooks(req, project, HookPoint::OnFailure, &facts).await
        {
            failed.get_or_insert(e);
        }
        failed
    }
}
