//! Background work of the console, keyed by id: each task gets a child of
//! the console's cancellation token, a task with the same id replaces (and
//! cancels) the one before it, and quitting cancels them all.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a background task is for. One task per id at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TaskId {
    Dockerfile(String),
    Tags(String),
    Build(String),
    Plan(String, String),
    Promotion(String, String),
    Rollout(String, String),
    Control(String, String),
    Lock(String, String),
    Activity(String, String),
    History(String, String),
    ReleaseEvents(String),
    Logs,
    SaveLogs,
    Stats(String),
    Container(String, String),
    RemoveProject(String, String),
}

/// The console's running tasks.
pub struct TaskRegistry {
    root: CancellationToken,
    tasks: HashMap<TaskId, (JoinHandle<()>, CancellationToken)>,
}

impl TaskRegistry {
    pub fn new(root: CancellationToken) -> Self {
        Self {
            root,
            tasks: HashMap::new(),
        }
    }

    /// Run `make(token)` as the task `id`. The task it replaces is told to
    /// stop through its token (never aborted: a task may be half way
    /// through something it must finish, like a host's replacement).
    pub fn spawn<F, Fut>(&mut self, id: TaskId, make: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.spawn_on(&tokio::runtime::Handle::current(), id, make);
    }

    /// As [`spawn`](Self::spawn), on the runtime `rt` (the log reader's).
    pub fn spawn_on<F, Fut>(&mut self, rt: &tokio::runtime::Handle, id: TaskId, make: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.reap();
        let token = self.root.child_token();
        let handle = rt.spawn(make(token.clone()));
        if let Some((_, t)) = self.tasks.insert(id, (handle, token)) {
            t.cancel();
        }
    }

    /// Whether task `id` still runs.
    pub fn running(&self, id: &TaskId) -> bool {
        self.tasks.get(id).is_some_and(|(h, _)| !h.is_finished())
    }

    /// Tell task `id` to stop (through its token).
    pub fn cancel(&mut self, id: &TaskId) {
        if let Some((_, t)) = self.tasks.remove(id) {
            t.cancel();
        }
    }

    /// Forget the tasks that ended.
    pub fn reap(&mut self) {
        self.tasks.retain(|_, (h, _)| !h.is_finished());
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Cancel and abort every task.
    pub fn shutdown(&mut self) {
        self.root.cancel();
        for (_, (h, _)) in self.tasks.drain() {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_with_the_same_id_replaces_and_cancels_the_old_one() {
        let mut reg = TaskRegistry::new(CancellationToken::new());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let tx1 = tx.clone();
        reg.spawn(TaskId::Tags("a".into()), move |t| async move {
            t.cancelled().await;
            let _ = tx1.send("first cancelled");
        });
        reg.spawn(TaskId::Tags("a".into()), move |_| async move {
            let _ = tx.send("second ran");
        });
        let mut got = vec![rx.recv().await, rx.recv().await];
        got.sort();
        assert_eq!(got, vec![Some("first cancelled"), Some("second ran")]);
        reg.shutdown();
        assert!(reg.is_empty());
    }
}
