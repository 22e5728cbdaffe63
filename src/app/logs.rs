//! The logs view's data: a byte-budgeted ring buffer of the lines of one or
//! more containers, with an index of the lines the `/` filter lets through
//! and of the search's hits, both kept up to date line by line (never a
//! rescan per frame), and where the view stands (following the end, or
//! anchored on a line). Pure: filled by `update()`, drawn by the view.
//!
//! Lines are numbered from the first one received (`seq`, a u64): the
//! buffer holds the numbers `first..first + len`, so a line's place is one
//! subtraction and nothing is limited to 65,535 lines.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use regex::Regex;

use crate::engine::logs::{LogEvent, LogRange};

/// What an entry costs besides its text: its slot in the deque and the
/// allocator's header and rounding of the text's own allocation.
const OVERHEAD: usize = std::mem::size_of::<LogEntry>() + 24;

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Out,
    Err,
    /// Written by the console (dropped lines, a reconnect, a stream's end):
    /// never filtered out, never a search hit.
    Marker,
}

/// One line in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Index into [`LogPane::sources`].
    pub source: u16,
    pub ts: Option<DateTime<Utc>>,
    pub kind: Kind,
    /// A box, not a `String`: no capacity to keep, 8 bytes less a line.
    pub text: Box<str>,
}

/// A `/` filter or a search: a regular expression, case-insensitive unless
/// it has a capital letter (as ripgrep's smart case); a leading `!` inverts
/// a filter.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// What was typed.
    pub text: String,
    re: Regex,
    invert: bool,
}

impl Matcher {
    /// `text` compiled; the error says what is wrong with it.
    pub fn parse(text: &str, allow_invert: bool) -> Result<Matcher, String> {
        let (invert, pattern) = match text.strip_prefix('!') {
            Some(rest) if allow_invert => (true, rest),
            _ => (false, text),
        };
        let smart = if pattern.chars().any(char::is_uppercase) {
            pattern.to_string()
        } else {
            format!("(?i){pattern}")
        };
        let re = regex::RegexBuilder::new(&smart)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let why = e.to_string();
                let last = why.lines().last().unwrap_or("").trim().to_string();
                format!("\"{pattern}\" is not a regular expression ({last})")
            })?;
        Ok(Matcher {
            text: text.to_string(),
            re,
            invert,
        })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text) != self.invert
    }

    /// Byte ranges of the matches in `text` (for highlighting).
    pub fn find_iter<'a>(&'a self, text: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
        self.re
            .find_iter(text)
            .filter(|m| !m.is_empty())
            .map(|m| (m.start(), m.end()))
    }
}

/// Since / tail presets (`p` cycles through them).
pub const PRESETS: [&str; 6] = ["tail 100", "1m", "5m", "15m", "1h", "all"];

/// What the pane reads: an environment's hosts (all, or the ones named),
/// or (`scope: None`) every project's serving containers on the hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTargets {
    /// The project and environment.
    pub scope: Option<(String, String)>,
    pub hosts: Vec<String>,
}

impl LogTargets {
    /// For file names: `shop-prod`, `shop-prod-h03`, `h03`.
    pub fn slug(&self) -> String {
        let host = match self.hosts.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        };
        match (&self.scope, host) {
            (Some((p, e)), Some(h)) => format!("{p}-{e}-{h}"),
            (Some((p, e)), None) => format!("{p}-{e}"),
            (None, h) => h.unwrap_or("hosts").to_string(),
        }
    }
}

/// The preset's range, followed, relative to `now`.
pub fn preset_range(preset: usize, now: DateTime<Utc>) -> LogRange {
    let secs = match PRESETS.get(preset).copied().unwrap_or("all") {
        "tail 100" => {
            return LogRange {
                since: None,
                tail: Some(100),
                follow: true,
            };
        }
        "1m" => 60,
        "5m" => 300,
        "15m" => 900,
        "1h" => 3600,
        _ => {
            return LogRange {
                since: None,
                tail: None,
                follow: true,
            };
        }
    };
    LogRange {
        since: Some(now.timestamp() - secs),
        tail: None,
        follow: true,
    }
}

/// The logs view's buffer and how it is looked at.
#[derive(Debug, Clone)]
pub struct LogPane {
    pub targets: LogTargets,
    /// Which stream the pane takes events from; events of an older one
    /// (replaced by another preset) are ignored.
    pub generation: u64,
    /// Labels of the streams (a host, or a host and a container), by index.
    pub sources: Vec<String>,
    entries: VecDeque<LogEntry>,
    /// `seq` of `entries[0]`.
    first: u64,
    bytes: usize,
    pub budget: usize,
    /// Lines that left the front of the buffer to make room.
    pub evicted: u64,
    /// Lines received from the hosts (markers not counted).
    pub received: u64,
    /// Lines the hosts sent that the console could not take in time.
    pub dropped: u64,
    pub reconnects: u64,
    filter: Option<Matcher>,
    /// With a filter: the `seq` of every line it lets through, in order.
    shown: VecDeque<u64>,
    search: Option<Matcher>,
    /// `seq` of the shown lines the search finds, in order.
    hits: VecDeque<u64>,
    /// The hit `n` / `N` stand on.
    current: Option<u64>,
    /// Stick to the end; cleared when scrolled up, set again with `G`.
    pub follow: bool,
    /// When not following: the `seq` of the bottom line on screen.
    anchor: u64,
    pub timestamps: bool,
    pub wrap: bool,
    pub fullscreen: bool,
    /// Index into [`PRESETS`].
    pub preset: usize,
}

impl LogPane {
    pub fn new(targets: LogTargets, generation: u64, budget: usize) -> Self {
        Self {
            targets,
            generation,
            sources: Vec::new(),
            entries: VecDeque::new(),
            first: 0,
            bytes: 0,
            budget: budget.max(64 * 1024),
            evicted: 0,
            received: 0,
            dropped: 0,
            reconnects: 0,
            filter: None,
            shown: VecDeque::new(),
            search: None,
            hits: VecDeque::new(),
            current: None,
            follow: true,
            anchor: 0,
            timestamps: false,
            wrap: false,
            fullscreen: false,
            preset: 0,
        }
    }

    /// Bytes the buffer holds (text and bookkeeping).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Lines in the buffer.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn source(&mut self, label: &str) -> u16 {
        if let Some(i) = self.sources.iter().position(|s| s == label) {
            return u16::try_from(i).unwrap_or(u16::MAX);
        }
        self.sources.push(label.to_string());
        u16::try_from(self.sources.len() - 1).unwrap_or(u16::MAX)
    }

    /// The label of a line's stream.
    pub fn label(&self, e: &LogEntry) -> &str {
        self.sources
            .get(usize::from(e.source))
            .map_or("?", String::as_str)
    }

    /// Take one event of the stream.
    pub fn apply(&mut self, ev: LogEvent, now: DateTime<Utc>) {
        match ev {
            LogEvent::Line(l) => {
                self.received += 1;
                let source = self.source(&l.host);
                let kind = if l.stderr { Kind::Err } else { Kind::Out };
                self.push(LogEntry {
                    source,
                    ts: l.ts,
                    kind,
                    text: l.text.into_boxed_str(),
                });
            }
            LogEvent::Dropped { host, lines } => {
                self.dropped += lines;
                let text = format!(
                    "── {} line(s) of {host} dropped: the console fell behind the stream ──",
                    thousands(lines)
                );
                self.marker(&host, now, text);
            }
            LogEvent::Reconnected { host, secs } => {
                self.reconnects += 1;
                let text = format!(
                    "── {host} reconnected after {secs:.1}s: read on from its last line, none repeated ──"
                );
                self.marker(&host, now, text);
            }
            LogEvent::Ended { host, error } => {
                let text = match error {
                    Some(e) => format!("── {host}: the log stream failed: {e} ──"),
                    None => format!("── {host}: the log ended (the container stopped) ──"),
                };
                self.marker(&host, now, text);
            }
            LogEvent::Note { host, text } => {
                self.marker(&host, now, format!("── {host}: {text} ──"));
            }
        }
    }

    fn marker(&mut self, label: &str, now: DateTime<Utc>, text: String) {
        let source = self.source(label);
        // In the lines' time (the engines' clocks), not the console's.
        let ts = self.entries.back().and_then(|e| e.ts).or(Some(now));
        self.push(LogEntry {
            source,
            ts,
            kind: Kind::Marker,
            text: text.into_boxed_str(),
        });
    }

    fn push(&mut self, e: LogEntry) {
        let cost = e.text.len() + OVERHEAD;
        while self.bytes + cost > self.budget && !self.entries.is_empty() {
            self.evict();
        }
        let seq = self.first + self.entries.len() as u64;
        let passes =
            e.kind == Kind::Marker || self.filter.as_ref().is_none_or(|f| f.is_match(&e.text));
        if passes {
            if self.filter.is_some() {
                self.shown.push_back(seq);
            }
            if e.kind != Kind::Marker && self.search.as_ref().is_some_and(|s| s.is_match(&e.text)) {
                self.hits.push_back(seq);
            }
        }
        self.bytes += cost;
        self.entries.push_back(e);
    }

    fn evict(&mut self) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        self.bytes -= e.text.len() + OVERHEAD;
        if e.kind != Kind::Marker {
            self.evicted += 1;
        }
        let gone = self.first;
        self.first += 1;
        if self.shown.front() == Some(&gone) {
            self.shown.pop_front();
        }
        if self.hits.front() == Some(&gone) {
            self.hits.pop_front();
            if self.current == Some(gone) {
                self.current = self.hits.front().copied();
            }
        }
        if self.anchor < self.first {
            self.anchor = self.first;
        }
    }

    /// The line numbered `seq`, while the buffer holds it.
    pub fn entry(&self, seq: u64) -> Option<&LogEntry> {
        let i = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.entries.get(i)
    }

    /// Lines the view shows (through the filter).
    pub fn shown_len(&self) -> usize {
        if self.filter.is_some() {
            self.shown.len()
        } else {
            self.entries.len()
        }
    }

    /// The `seq` of the `i`th shown line.
    pub fn shown_seq(&self, i: usize) -> Option<u64> {
        if self.filter.is_some() {
            self.shown.get(i).copied()
        } else {
            (i < self.entries.len()).then(|| self.first + i as u64)
        }
    }

    /// The place among the shown lines of the last one at or before `seq`.
    fn shown_pos(&self, seq: u64) -> usize {
        if self.filter.is_some() {
            match self.shown.binary_search(&seq) {
                Ok(i) => i,
                Err(i) => i.saturating_sub(1),
            }
        } else {
            usize::try_from(seq.saturating_sub(self.first)).unwrap_or(usize::MAX)
        }
    }

    /// The place among the shown lines of the bottom line on screen.
    pub fn bottom(&self) -> Option<usize> {
        let n = self.shown_len();
        if n == 0 {
            return None;
        }
        if self.follow {
            return Some(n - 1);
        }
        Some(self.shown_pos(self.anchor).min(n - 1))
    }

    /// Move the view by `delta` lines (negative: up, to older lines).
    pub fn scroll(&mut self, delta: i64) {
        let Some(b) = self.bottom() else {
            return;
        };
        let n = self.shown_len();
        let to = if delta < 0 {
            b.saturating_sub(usize::try_from(-delta).unwrap_or(usize::MAX))
        } else {
            b.saturating_add(usize::try_from(delta).unwrap_or(0))
                .min(n - 1)
        };
        self.stand_at(to);
        // Scrolled down to the last line: stick to the end again.
        if delta > 0 && to == n - 1 {
            self.follow = true;
        }
    }

    /// Put the `i`th shown line at the bottom, and stop following.
    fn stand_at(&mut self, i: usize) {
        if let Some(seq) = self.shown_seq(i) {
            self.anchor = seq;
            self.follow = false;
        }
    }

    /// To the first line in the buffer.
    pub fn top(&mut self, page: usize) {
        let n = self.shown_len();
        if n > 0 {
            self.stand_at(page.saturating_sub(1).min(n - 1));
        }
    }

    /// Back to the end, following it.
    pub fn to_end(&mut self) {
        self.follow = true;
    }

    pub fn filter(&self) -> Option<&Matcher> {
        self.filter.as_ref()
    }

    /// Set (or clear) the filter; the buffer keeps every line, the index of
    /// what it lets through is built once here. The view stays on the same
    /// line (or the nearest one before it).
    pub fn set_filter(&mut self, filter: Option<Matcher>) {
        let at = (!self.follow)
            .then(|| self.bottom().and_then(|b| self.shown_seq(b)))
            .flatten();
        self.filter = filter;
        self.shown.clear();
        if let Some(f) = &self.filter {
            for (i, e) in self.entries.iter().enumerate() {
                if e.kind == Kind::Marker || f.is_match(&e.text) {
                    self.shown.push_back(self.first + i as u64);
                }
            }
        }
        if let Some(seq) = at {
            self.anchor = seq;
        }
        self.rebuild_hits();
    }

    pub fn search(&self) -> Option<&Matcher> {
        self.search.as_ref()
    }

    fn rebuild_hits(&mut self) {
        self.hits.clear();
        let Some(s) = &self.search else {
            self.current = None;
            return;
        };
        for i in 0..self.shown_len() {
            let Some(seq) = self.shown_seq(i) else {
                break;
            };
            if let Some(e) = self.entry(seq)
                && e.kind != Kind::Marker
                && s.is_match(&e.text)
            {
                self.hits.push_back(seq);
            }
        }
        if self
            .current
            .is_some_and(|c| self.hits.binary_search(&c).is_err())
        {
            self.current = None;
        }
    }

    /// Start a search (or clear it) and go to the last hit at or above the
    /// bottom of the view, keeping `page` lines around it.
    pub fn set_search(&mut self, search: Option<Matcher>, page: usize) {
        self.search = search;
        self.current = None;
        self.rebuild_hits();
        if self.hits.is_empty() {
            return;
        }
        let bottom = self.bottom().and_then(|b| self.shown_seq(b)).unwrap_or(0);
        let i = match self.hits.binary_search(&bottom) {
            Ok(i) => i,
            Err(0) => 0,
            Err(i) => i - 1,
        };
        self.go_to_hit(i, page);
    }

    /// `n` (forward, to newer lines) or `N` (back).
    pub fn next_hit(&mut self, forward: bool, page: usize) {
        if self.hits.is_empty() {
            return;
        }
        let i = match self.current.map(|c| self.hits.binary_search(&c)) {
            Some(Ok(i)) if forward => (i + 1) % self.hits.len(),
            Some(Ok(i)) => (i + self.hits.len() - 1) % self.hits.len(),
            _ if forward => 0,
            _ => self.hits.len() - 1,
        };
        self.go_to_hit(i, page);
    }

    fn go_to_hit(&mut self, i: usize, page: usize) {
        let Some(&seq) = self.hits.get(i) else {
            return;
        };
        self.current = Some(seq);
        // The hit in the middle of the screen, its neighbours around it.
        let pos = self.shown_pos(seq);
        let n = self.shown_len();
        self.stand_at((pos + page / 2).min(n.saturating_sub(1)));
    }

    /// `x/y`: the current hit's number and how many there are.
    pub fn counter(&self) -> Option<(usize, usize)> {
        self.search.as_ref()?;
        let x = self
            .current
            .and_then(|c| self.hits.binary_search(&c).ok())
            .map_or(0, |i| i + 1);
        Some((x, self.hits.len()))
    }

    /// The line the search stands on.
    pub fn current_hit(&self) -> Option<u64> {
        self.current
    }

    /// What the view shows, as text (host prefixed, with RFC 3339 times),
    /// oldest first: what `save` writes.
    pub fn shown_text(&self) -> String {
        let mut out = String::new();
        let width = self.sources.iter().map(String::len).max().unwrap_or(0);
        for i in 0..self.shown_len() {
            let Some(e) = self.shown_seq(i).and_then(|s| self.entry(s)) else {
                break;
            };
            let sep = match e.kind {
                Kind::Out => '|',
                Kind::Err => '!',
                Kind::Marker => '#',
            };
            file_line(&mut out, e.ts, self.label(e), width, sep, &e.text);
        }
        out
    }
}

/// One line of a saved log: `RFC3339-time label | text` (`!` for stderr,
/// `#` for the console's markers), the label padded to `width`.
pub fn file_line(
    out: &mut String,
    ts: Option<DateTime<Utc>>,
    label: &str,
    width: usize,
    sep: char,
    text: &str,
) {
    let ts = ts
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| "-".into());
    out.push_str(&format!("{ts} {label:width$} {sep} {text}\n"));
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::logs::LogLine;

    fn targets() -> LogTargets {
        LogTargets {
            scope: Some(("shop".into(), "prod".into())),
            hosts: vec!["h1".into(), "h2".into()],
        }
    }

    fn line(host: &str, text: &str) -> LogEvent {
        LogEvent::Line(LogLine {
            host: host.into(),
            container: "c".into(),
            ts: None,
            stderr: false,
            text: text.into(),
        })
    }

    #[allow(clippy::panic)]
    fn m(text: &str, invert: bool) -> Matcher {
        Matcher::parse(text, invert).unwrap_or_else(|e| panic!("{e}"))
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn text_at(p: &LogPane, i: usize) -> String {
        p.shown_seq(i)
            .and_then(|s| p.entry(s))
            .map(|e| e.text.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn the_buffer_keeps_to_its_byte_budget_and_counts_what_left() {
        let mut p = LogPane::new(targets(), 0, 64 * 1024);
        for i in 0..10_000 {
            p.apply(
                line("h1", &format!("line {i:05} {}", "x".repeat(40))),
                now(),
            );
            assert!(p.bytes() <= p.budget);
        }
        assert!(p.len() < 10_000);
        assert_eq!(p.evicted + p.len() as u64, 10_000);
        assert_eq!(text_at(&p, p.len() - 1).get(..10), Some("line 09999"));
    }

    #[test]
    fn a_filter_keeps_the_buffer_and_indexes_new_lines_as_they_come() {
        let mut p = LogPane::new(targets(), 0, 1 << 20);
        for i in 0..100 {
            let text = if i % 10 == 0 { "ERROR boom" } else { "ok" };
            p.apply(line("h1", &format!("{text} {i}")), now());
        }
        p.set_filter(Some(m("error", true)));
        assert_eq!(p.shown_len(), 10);
        p.apply(line("h2", "another error"), now());
        p.apply(line("h2", "fine"), now());
        assert_eq!(p.shown_len(), 11);
        assert_eq!(text_at(&p, 10), "another error");
        // Inverted: everything but the errors.
        p.set_filter(Some(m("!error", true)));
        assert_eq!(p.shown_len(), 91);
        p.set_filter(None);
        assert_eq!(p.shown_len(), 102);
    }

    #[test]
    fn markers_pass_every_filter_and_are_never_hits() {
        let mut p = LogPane::new(targets(), 0, 1 << 20);
        p.set_filter(Some(m("nothing-matches", true)));
        p.apply(
            LogEvent::Dropped {
                host: "h1".into(),
                lines: 1234,
            },
            now(),
        );
        assert_eq!(p.shown_len(), 1);
        assert!(text_at(&p, 0).contains("1,234 line(s) of h1 dropped"));
        assert_eq!(p.dropped, 1234);
        p.set_search(Some(m("dropped", false)), 10);
        assert_eq!(p.counter(), Some((0, 0)));
    }

    #[test]
    fn search_counts_its_hits_and_n_moves_between_them_keeping_lines_around() {
        let mut p = LogPane::new(targets(), 0, 1 << 20);
        for i in 0..1000 {
            let t = if i % 100 == 50 {
                "timeout here"
            } else {
                "fine"
            };
            p.apply(line("h1", &format!("{t} {i}")), now());
        }
        p.set_search(Some(m("timeout", false)), 20);
        // The last hit above the end: line 950 of 1000, the 10th.
        assert_eq!(p.counter(), Some((10, 10)));
        assert!(!p.follow);
        assert_eq!(p.bottom(), Some(960));
        p.next_hit(false, 20);
        assert_eq!(p.counter(), Some((9, 10)));
        assert_eq!(p.bottom(), Some(860));
        p.next_hit(true, 20);
        p.next_hit(true, 20);
        // Wraps around.
        assert_eq!(p.counter(), Some((1, 10)));
        // New hits are indexed as they come.
        p.apply(line("h2", "another timeout"), now());
        assert_eq!(p.counter(), Some((1, 11)));
    }

    #[test]
    fn scrolling_up_lets_go_of_the_end_and_g_comes_back() {
        let mut p = LogPane::new(targets(), 0, 1 << 20);
        for i in 0..100 {
            p.apply(line("h1", &i.to_string()), now());
        }
        assert_eq!(p.bottom(), Some(99));
        p.scroll(-10);
        assert!(!p.follow);
        assert_eq!(p.bottom(), Some(89));
        // New lines do not move a view that let go.
        p.apply(line("h1", "100"), now());
        assert_eq!(p.bottom(), Some(89));
        p.to_end();
        assert_eq!(p.bottom(), Some(100));
        p.scroll(-5);
        p.scroll(5);
        assert!(p.follow);
    }

    #[test]
    fn more_than_65535_lines_scroll_and_stay_in_place_while_the_front_goes() {
        let mut p = LogPane::new(targets(), 0, 64 << 20);
        for i in 0..200_000u32 {
            p.apply(line("h1", &i.to_string()), now());
        }
        assert_eq!(p.len(), 200_000);
        p.scroll(-100_000);
        assert_eq!(p.bottom(), Some(99_999));
        assert_eq!(text_at(&p, 99_999), "99999");
        p.top(10);
        assert_eq!(text_at(&p, p.bottom().unwrap_or(0)), "9");
        // A small budget: the anchored line stays until it leaves.
        let mut q = LogPane::new(targets(), 0, 256 * 1024);
        for i in 0..100_000u32 {
            q.apply(line("h1", &i.to_string()), now());
        }
        let kept = q.len();
        q.scroll(-10);
        let at = text_at(&q, q.bottom().unwrap_or(0));
        q.apply(line("h1", "next"), now());
        assert_eq!(text_at(&q, q.bottom().unwrap_or(0)), at);
        assert!(kept < 100_000);
    }

    #[test]
    fn bad_patterns_are_refused_with_the_pattern_quoted() {
        let e = Matcher::parse("(unclosed", true).err().unwrap_or_default();
        assert!(e.contains("\"(unclosed\""), "{e}");
        // Smart case.
        assert!(m("err", false).is_match("ERR"));
        assert!(!m("Err", false).is_match("ERR"));
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
