//! Keys → commands. Defaults follow k9s / lazydocker habits; every binding can
//! be replaced (`Keymap::bind`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::Command;

/// A key as the keymap sees it (code + the modifiers that matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl From<KeyEvent> for Key {
    fn from(k: KeyEvent) -> Self {
        Self {
            code: k.code,
            ctrl: k.modifiers.contains(KeyModifiers::CONTROL),
        }
    }
}

impl Key {
    pub const fn plain(code: KeyCode) -> Self {
        Self { code, ctrl: false }
    }
    pub const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            ctrl: true,
        }
    }
    /// A key from the config's grammar.
    pub fn from_spec(spec: crate::config::keys::KeySpec) -> Self {
        use crate::config::keys::KeyName as N;
        let code = match spec.code {
            N::Char(c) => KeyCode::Char(c),
            N::Enter => KeyCode::Enter,
            N::Esc => KeyCode::Esc,
            N::Tab => KeyCode::Tab,
            N::Backspace => KeyCode::Backspace,
            N::Delete => KeyCode::Delete,
            N::Up => KeyCode::Up,
            N::Down => KeyCode::Down,
            N::Left => KeyCode::Left,
            N::Right => KeyCode::Right,
            N::Home => KeyCode::Home,
            N::End => KeyCode::End,
            N::PageUp => KeyCode::PageUp,
            N::PageDown => KeyCode::PageDown,
            N::F(n) => KeyCode::F(n),
        };
        Self {
            code,
            ctrl: spec.ctrl,
        }
    }

    /// How the help screen writes it.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Backspace => "backspace".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::Delete => "delete".into(),
            KeyCode::F(n) => format!("f{n}"),
            other => format!("{other:?}").to_lowercase(),
        };
        if self.ctrl {
            format!("ctrl-{base}")
        } else {
            base
        }
    }
}

/// The key bindings in force.
#[derive(Debug, Clone)]
pub struct Keymap {
    /// In priority order: the first key bound to a command is the one hints show.
    map: Vec<(Key, Command)>,
}

impl Default for Keymap {
    fn default() -> Self {
        use Command::*;
        use KeyCode as K;
        let pairs = [
            (Key::plain(K::Char('q')), Quit),
            (Key::ctrl('c'), Quit),
            (Key::plain(K::Char('?')), Help),
            (Key::plain(K::Char('/')), Filter),
            (Key::plain(K::Char(':')), Palette),
            (Key::plain(K::Char('k')), Up),
            (Key::plain(K::Up), Up),
            (Key::plain(K::Char('j')), Down),
            (Key::plain(K::Down), Down),
            (Key::plain(K::Char('g')), Top),
            (Key::plain(K::Home), Top),
            (Key::plain(K::Char('G')), Bottom),
            (Key::plain(K::End), Bottom),
            (Key::ctrl('d'), HalfPageDown),
            (Key::plain(K::PageDown), HalfPageDown),
            (Key::ctrl('u'), HalfPageUp),
            (Key::plain(K::PageUp), HalfPageUp),
            (Key::plain(K::Enter), Enter),
            (Key::plain(K::Char('l')), Enter),
            (Key::plain(K::Right), Enter),
            (Key::plain(K::Esc), Back),
            (Key::plain(K::Char('h')), Back),
            (Key::plain(K::Left), Back),
            (Key::plain(K::Char('d')), Dockerfile),
            (Key::plain(K::Char('t')), Tags),
            (Key::plain(K::Char('b')), Build),
            (Key::plain(K::Char('D')), Deploy),
            (Key::plain(K::Char('P')), Promote),
            (Key::plain(K::Char('R')), Rollback),
            (Key::plain(K::Char('o')), Rollout),
            (Key::plain(K::Char('H')), History),
            (Key::plain(K::Char(' ')), PauseResume),
            (Key::plain(K::Char('A')), Abort),
            (Key::plain(K::Char('T')), Retry),
            (Key::plain(K::Char('u')), Resume),
            (Key::plain(K::Char('X')), BreakLock),
            (Key::plain(K::Char('r')), Restart),
            (Key::plain(K::Char('x')), Stop),
            (Key::plain(K::Char('a')), Start),
            (Key::plain(K::Char('s')), Shell),
            (Key::ctrl('x'), RemoveProject),
            (Key::plain(K::Char('S')), Ship),
            (Key::plain(K::Char('O')), Sort),
            (Key::ctrl('l'), Redraw),
            (Key::ctrl('r'), Reconnect),
            (Key::plain(K::Char('L')), Logs),
            (Key::plain(K::Char('e')), HealthTimeline),
            (Key::plain(K::Char('f')), Search),
            (Key::plain(K::Char('n')), SearchNext),
            (Key::plain(K::Char('N')), SearchPrev),
            (Key::plain(K::Char('c')), Timestamps),
            (Key::plain(K::Char('w')), Wrap),
            (Key::plain(K::Char('W')), SaveLogs),
            (Key::plain(K::Char('F')), Fullscreen),
            (Key::plain(K::Char('p')), Since),
        ];
        Self {
            map: pairs.to_vec(),
        }
    }
}

impl Keymap {
    /// The defaults with the config's `[keys]` on top: a command named
    /// there loses its default keys and gets the ones written.
    pub fn with_bindings(bindings: &[crate::config::keys::KeyBinding]) -> Self {
        let mut map = Self::default();
        for b in bindings {
            let Some(command) = Command::by_name(&b.command) else {
                continue;
            };
            map.map.retain(|(_, c)| *c != command);
            // In the written order: the first is the one hints show.
            for k in b.keys.iter().rev() {
                map.bind(Key::from_spec(*k), command);
            }
        }
        map
    }

    /// The command bound to `key`, if any.
    pub fn command(&self, key: KeyEvent) -> Option<Command> {
        // Alt/Super chords (readline's alt-b, a window manager's keys) are
        // not the plain key: nothing is bound to them.
        if key
            .modifiers
            .intersects(KeyModifiers::ALT | KeyModifiers::SUPER | KeyModifiers::META)
        {
            return None;
        }
        // Shifted letters arrive as the upper-case char (SHIFT is ignored here).
        let key = Key::from(key);
        self.map.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
    }

    /// Bind `key` to `command`, replacing what it did before.
    pub fn bind(&mut self, key: Key, command: Command) {
        self.map.retain(|(k, _)| *k != key);
        self.map.insert(0, (key, command));
    }

    /// Every binding, in priority order (for a walk over the whole keymap).
    pub fn bindings(&self) -> &[(Key, Command)] {
        &self.map
    }

    /// Keys bound to `command`, most prominent first, for hints and help.
    pub fn keys_for(&self, command: Command) -> Vec<String> {
        self.map
            .iter()
            .filter(|(_, c)| *c == command)
            .map(|(k, _)| k.label())
            .collect()
    }
}
