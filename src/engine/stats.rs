//! A container's CPU and memory from the Docker stats stream (about one
//! reading a second), as `docker stats` computes them: CPU as percent of
//! one CPU from the deltas against the previous reading, memory without
//! the page cache the kernel can take back.

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptions;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::Engine;

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Percent of one CPU (200 is two CPUs busy).
    pub cpu: f64,
    pub mem: u64,
    /// The memory limit (the host's memory without one).
    pub limit: u64,
}

/// Usage from one stats reading (which carries the one before it).
pub fn usage(s: &ContainerStatsResponse) -> Option<Usage> {
    let cpu = s.cpu_stats.as_ref()?;
    let pre = s.precpu_stats.as_ref();
    let total = cpu.cpu_usage.as_ref()?.total_usage?;
    let pre_total = pre
        .and_then(|p| p.cpu_usage.as_ref())
        .and_then(|u| u.total_usage)
        .unwrap_or(0);
    let system = cpu.system_cpu_usage.unwrap_or(0);
    let pre_system = pre.and_then(|p| p.system_cpu_usage).unwrap_or(0);
    let cpus = f64::from(cpu.online_cpus.unwrap_or(1).max(1));
    let d_cpu = total.saturating_sub(pre_total) as f64;
    let d_sys = system.saturating_sub(pre_system) as f64;
    let cpu_pct = if d_sys > 0.0 && pre_total > 0 {
        d_cpu / d_sys * cpus * 100.0
    } else {
        0.0
    };
    let m = s.memory_stats.as_ref();
    let used = m.and_then(|m| m.usage).unwrap_or(0);
    // cgroup v2 says inactive_file, v1 total_inactive_file (docker stats).
    let cache = m
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| {
            st.get("inactive_file")
                .or_else(|| st.get("total_inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    Some(Usage {
        cpu: cpu_pct,
        mem: used.saturating_sub(cache),
        limit: m.and_then(|m| m.limit).unwrap_or(0),
    })
}

impl Engine {
    /// Read container `id`'s stats until the stream ends or `cancel`
    /// fires, giving each reading to `each` (false stops).
    pub async fn stream_stats(
        &self,
        id: &str,
        cancel: CancellationToken,
        mut each: impl FnMut(Usage) -> bool,
    ) {
        let mut stream = self.docker.stats(
            id,
            Some(StatsOptions {
                stream: true,
                one_shot: false,
            }),
        );
        loop {
            let item = tokio::select! {
                _ = cancel.cancelled() => return,
                item = stream.next() => item,
            };
            match item {
                Some(Ok(s)) => {
                    if let Some(u) = usage(&s)
                        && !each(u)
                    {
                        return;
                    }
                }
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

    use super::*;

    fn cpu(total: u64, system: u64) -> ContainerCpuStats {
        ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_is_the_share_of_one_cpu_and_memory_leaves_the_page_cache_out() {
        let s = ContainerStatsResponse {
            // 50 ms of CPU in 200 ms of the system's time, 2 CPUs: 50 %.
            precpu_stats: Some(cpu(1_000_000_000, 10_000_000_000)),
            cpu_stats: Some(cpu(1_050_000_000, 10_200_000_000)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(300 << 20),
                limit: Some(1 << 30),
                stats: Some(HashMap::from([("inactive_file".to_string(), 100 << 20)])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let u = usage(&s).unwrap_or(Usage {
            cpu: -1.0,
            mem: 0,
            limit: 0,
        });
        assert!((u.cpu - 50.0).abs() < 1e-9, "{u:?}");
        assert_eq!(u.mem, 200 << 20);
        assert_eq!(u.limit, 1 << 30);
        // The first reading has nothing before it: 0 %, not a spike.
        let first = ContainerStatsResponse {
            cpu_stats: Some(cpu(1_050_000_000, 10_200_000_000)),
            ..Default::default()
        };
        assert_eq!(usage(&first).map(|u| u.cpu), Some(0.0));
    }
}
