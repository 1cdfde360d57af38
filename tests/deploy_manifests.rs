//! The deployment files under deploy/: the Kubernetes Indexed Job's fields, parsed, and
//! the shell each pod / Slurm task runs, executed with stand-ins for `synprobe` and
//! `sbatch` that only record their arguments (no root, nothing scanned).
mod common;

use common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn manifest(name: &str) -> Value {
    let path = repo_root().join("deploy/k8s").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?} is not JSON (YAML): {e}"))
}

fn env(container: &Value, name: &str) -> String {
    container["env"]
        .as_array()
        .expect("env list")
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("no env {name}"))
        .to_string()
}

/// A directory with recording stand-ins for `synprobe` and `sbatch`: each call's
/// arguments go one per line to `<dir>/<tool>.args`.
struct Stubs(PathBuf);

impl Stubs {
    fn new(tag: &str) -> Stubs {
        let d = std::env::temp_dir().join(format!("synprobe-deploy-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("stub dir");
        for tool in ["synprobe", "sbatch"] {
            let p = d.join(tool);
            std::fs::write(
                &p,
                format!(
                    "#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{}/{tool}.args'\n",
                    d.display()
                ),
            )
            .expect("stub");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        Stubs(d)
    }
    fn path_var(&self) -> String {
        format!(
            "{}:{}",
            self.0.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }
    fn args(&self, tool: &str) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.0.join(format!("{tool}.args"))).ok()?;
        Some(text.lines().map(str::to_string).collect())
    }
}

impl Drop for Stubs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    &args[i + 1]
}

#[test]
fn k8s_indexed_job_has_the_fields_sharding_needs() {
    let job = manifest("shards-job.json");
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().expect("completions");
    assert!(n >= 2);
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "every shard at once");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    assert_eq!(env(c, "SHARDS"), n.to_string(), "SHARDS == completions");
    let caps: Vec<&str> = c["securityContext"]["capabilities"]["add"]
        .as_array()
        .expect("capabilities.add")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        caps.contains(&"NET_RAW") && caps.contains(&"NET_ADMIN"),
        "{caps:?}"
    );
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/results");
    let claim = &pod["volumes"][0]["persistentVolumeClaim"]["claimName"];
    let pvc = manifest("results-pvc.json");
    assert_eq!(pvc["kind"], "PersistentVolumeClaim");
    assert_eq!(*claim, pvc["metadata"]["name"]);
    assert_eq!(pvc["spec"]["accessModes"][0], "ReadWriteMany");

    let merge = manifest("merge-job.json");
    let mc = &merge["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        env(mc, "SHARDS"),
        n.to_string(),
        "merge expects as many shards"
    );
    assert_eq!(
        merge["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        *claim
    );
}

/// Runs a container's `command` (sh -c ...) with the stand-ins and `extra` env.
fn run_container(c: &Value, stubs: &Stubs, extra: &[(&str, &str)]) {
    let cmd: Vec<&str> = c["command"]
        .as_array()
        .expect("command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut p = Command::new(cmd[0]);
    p.args(&cmd[1..]).env("PATH", stubs.path_var());
    for e in c["env"].as_array().expect("env") {
        p.env(e["name"].as_str().unwrap(), e["value"].as_str().unwrap());
    }
    for (k, v) in extra {
        p.env(k, v);
    }
    let out = run_bounded(&mut p, Duration::from_secs(10));
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn k8s_pod_index_becomes_the_one_based_shard() {
    let job = manifest("shards-job.json");
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let n = env(c, "SHARDS");
    for index in 0..n.parse::<u32>().unwrap() {
        let stubs = Stubs::new(&format!("k8s{index}"));
        run_container(c, &stubs, &[("JOB_COMPLETION_INDEX", &index.to_string())]);
        let args = stubs.args("synprobe").expect("synprobe ran");
        assert_eq!(args[0], "scan");
        let i = index + 1;
        assert_eq!(after(&args, "--shard"), format!("{i}/{n}"));
        assert_eq!(after(&args, "--seed"), env(c, "SEED"));
        assert_eq!(after(&args, "-p"), env(c, "PORTS"));
        assert_eq!(after(&args, "--format"), "jsonl");
        assert!(args.contains(&"--header".to_string()), "{args:?}");
        assert_eq!(
            after(&args, "-o"),
            format!("/results/shard-{i}-of-{n}.jsonl")
        );
    }
}

fn sbatch_env(stubs: &Stubs, id: &str, min: &str, max: &str, count: &str) -> Command {
    let mut p = Command::new("bash");
    p.arg(repo_root().join("deploy/slurm/synprobe-array.sbatch"))
        .env("PATH", stubs.path_var())
        .env("SYNPROBE_TARGETS", "198.18.0.0/20")
        .env("SYNPROBE_PORTS", "80,81")
        .env("SYNPROBE_SEED", "99")
        .env("SYNPROBE_OUT", stubs.0.join("out"))
        .env("SLURM_SUBMIT_DIR", repo_root())
        .env("SLURM_ARRAY_JOB_ID", "77")
        .env("SLURM_ARRAY_TASK_ID", id)
        .env("SLURM_ARRAY_TASK_MIN", min)
        .env("SLURM_ARRAY_TASK_MAX", max)
        .env("SLURM_ARRAY_TASK_COUNT", count);
    p
}

#[test]
fn slurm_array_task_becomes_the_shard_and_the_first_submits_the_merge() {
    // --array=0-3: task 0 is shard 1/4 and submits the merge after the whole array.
    let stubs = Stubs::new("slurm0");
    let out = run_bounded(
        &mut sbatch_env(&stubs, "0", "0", "3", "4"),
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let args = stubs.args("synprobe").expect("synprobe ran");
    assert_eq!(args[0], "scan");
    assert_eq!(after(&args, "--shard"), "1/4");
    assert_eq!(after(&args, "--seed"), "99");
    assert!(args.contains(&"--header".to_string()));
    let o = after(&args, "-o");
    assert!(o.ends_with("/out/shard-1-of-4.jsonl"), "{o}");
    let sb = stubs
        .args("sbatch")
        .expect("the first task submits the merge");
    assert!(
        sb.contains(&"--dependency=afterok:77".to_string()),
        "{sb:?}"
    );
    assert!(
        sb.last()
            .unwrap()
            .ends_with("deploy/slurm/synprobe-merge.sbatch"),
        "{sb:?}"
    );

    // --array=1-4, task 3: shard 3/4, no second merge.
    let stubs = Stubs::new("slurm3");
    let out = run_bounded(
        &mut sbatch_env(&stubs, "3", "1", "4", "4"),
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(after(&stubs.args("synprobe").unwrap(), "--shard"), "3/4");
    assert_eq!(stubs.args("sbatch"), None);

    // A stepped array (--array=1-7:2) would leave holes: refused.
    let stubs = Stubs::new("slurmstep");
    let out = run_bounded(
        &mut sbatch_env(&stubs, "3", "1", "7", "4"),
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(stubs.args("synprobe"), None);
}

#[test]
fn slurm_merge_takes_the_shards_that_exist() {
    let stubs = Stubs::new("slurmmerge");
    let out_dir = stubs.0.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    for i in [1, 2, 4] {
        std::fs::write(out_dir.join(format!("shard-{i}-of-4.jsonl")), "").unwrap();
    }
    let mut p = Command::new("bash");
    p.arg(repo_root().join("deploy/slurm/synprobe-merge.sbatch"))
        .env("PATH", stubs.path_var())
        .env("SYNPROBE_OUT", &out_dir)
        .env("SYNPROBE_COUNT", "4");
    let out = run_bounded(&mut p, Duration::from_secs(10));
    assert!(out.status.success(), "{}", describe(&out));
    let args = stubs.args("synprobe").expect("merge ran");
    let d = out_dir.display();
    assert_eq!(
        args,
        [
            "merge".to_string(),
            format!("{d}/shard-1-of-4.jsonl"),
            format!("{d}/shard-2-of-4.jsonl"),
            format!("{d}/shard-4-of-4.jsonl"),
            "-o".to_string(),
            format!("{d}/merged.jsonl"),
        ]
    );
}
