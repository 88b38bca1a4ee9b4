//! Bad input, as a table: each case is one line (what is changed, the command, what the error must
//! name). Every case must exit 1 (2 means changes pending, so a refusal never uses it; argument
//! errors included) with exactly one error line that names the problem (file and key for
//! configuration), no panic, and make no mutating call at the gateway.

use dal_tests::Sandbox;

/// What a case changes in the environment files before running the command.
enum Edit {
    /// Nothing.
    None,
    /// Replace text in an environment file (`local`, `common`).
    Replace(&'static str, &'static str, &'static str),
    /// Append text to an environment file.
    Append(&'static str, &'static str),
}

use Edit::{Append, None as Keep, Replace};

struct Case {
    name: &'static str,
    edit: Edit,
    args: &'static [&'static str],
    expect: &'static [&'static str],
}

const DEPLOY: &[&str] = &["deploy", "local", "--auto-approve"];
const PLAN: &[&str] = &["plan", "local"];

/// The table's size: a case dropped by mistake fails the test.
const EXPECTED_CASES: usize = 48;

/// The cases the environment files' JSON Schema rejects as the operator types (an editor marks
/// them); the others need AWS or the whole configuration to judge. Checked both ways.
const SCHEMA_REJECTS: &[&str] = &[
    "unknown top-level key",
    "unknown key in a family's section",
    "wrong type",
    "concurrency out of range",
    "unknown Bedrock source type",
    "account id malformed",
    "uppercase naming id",
    "name too long for ElastiCache",
    "run lock lease too short",
    "Redis port of the wrong type",
    "plan with a broken file",
];

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "unknown environment", edit: Keep, args: &["deploy", "lcoal", "--auto-approve"], expect: &["lcoal", "local"] },
    Case { name: "unknown top-level key", edit: Replace("local", "max_attempts = 3", "max_attempts = 3\nregoin = \"eu-central-2\""), args: DEPLOY, expect: &["local.toml", "regoin"] },
    Case { name: "unknown key in a family's section", edit: Replace("local", "[aurora]\n", "[aurora]\ninstance_klass = \"db.t4g.medium\"\n"), args: DEPLOY, expect: &["local.toml", "instance_klass"] },
    Case { name: "wrong type", edit: Replace("local", "max_attempts = 3", "max_attempts = \"three\""), args: DEPLOY, expect: &["local.toml", "max_attempts"] },
    Case { name: "concurrency out of range", edit: Replace("local", "max_attempts = 3", "max_attempts = 3\nconcurrency = 0"), args: DEPLOY, expect: &["local.toml", "concurrency"] },
    Case { name: "multi-AZ without failover", edit: Replace("local", "multi_az_enabled = false", "multi_az_enabled = true"), args: DEPLOY, expect: &["multi_az_enabled", "automatic_failover_enabled"] },
    Case { name: "failover without a replica", edit: Replace("local", "automatic_failover_enabled = false", "automatic_failover_enabled = true"), args: DEPLOY, expect: &["automatic_failover_enabled", "num_cache_nodes"] },
    Case { name: "Grafana in eu-central-2", edit: Replace("local", "enable_managed_grafana = false", "enable_managed_grafana = true"), args: DEPLOY, expect: &["enable_managed_grafana", "eu-central-2"] },
    Case { name: "unknown Bedrock model", edit: Append("local", "\n[bedrock.inference_profiles]\nmystery = { source = \"acme.mystery-model-v1:0\", source_type = \"foundation-model\" }\n"), args: DEPLOY, expect: &["acme.mystery-model-v1:0"] },
    Case { name: "unknown Bedrock source type", edit: Append("local", "\n[bedrock.inference_profiles]\nmystery = { source = \"amazon.titan-embed-text-v2:0\", source_type = \"model\" }\n"), args: DEPLOY, expect: &["source_type"] },
    Case { name: "wrong account", edit: Replace("local", "[\"123456789012\"]", "[\"111111111111\"]"), args: DEPLOY, expect: &["123456789012", "111111111111", "allowed_account_ids"] },
    Case { name: "account id malformed", edit: Replace("local", "[\"123456789012\"]", "[\"12345\"]"), args: DEPLOY, expect: &["local.toml", "allowed_account_ids"] },
    Case { name: "missing infrastructure input", edit: Replace("local", "Environment = \"local\" }", "Environment = \"nowhere\" }"), args: DEPLOY, expect: &["vpc_id", "infrastructure"] },
    Case { name: "malformed endpoint-definitions template", edit: Replace("local", "[secrets]\n", "[secrets]\nendpoint_definitions_template = '[{\"endpoint\": '\n"), args: DEPLOY, expect: &["endpoint_definitions_template"] },
    Case { name: "KMS alias where an ARN is needed", edit: Replace("local", "[infrastructure]\n", "[infrastructure]\ngeneral_kms_key_arn = \"alias/general\"\n"), args: DEPLOY, expect: &["local.toml", "infrastructure.general_kms_key_arn"] },
    Case { name: "KMS key in another region", edit: Replace("local", "[infrastructure]\n", "[infrastructure]\ngeneral_kms_key_arn = \"arn:aws:kms:eu-west-1:123456789012:key/abc\"\n"), args: DEPLOY, expect: &["general_kms_key_arn", "eu-west-1"] },
    Case { name: "uppercase naming id", edit: Replace("local", "naming_id = \"e2e-bad-table\"", "naming_id = \"E2E-Bad\""), args: DEPLOY, expect: &["local.toml", "naming_id"] },
    Case { name: "name too long for ElastiCache", edit: Replace("local", "naming_id = \"e2e-bad-table\"", "naming_id = \"a-naming-id-far-too-long-for-elasticache-ids\""), args: DEPLOY, expect: &["local.toml", "naming_id", "1 to 32"] },
    Case { name: "log retention CloudWatch refuses", edit: Replace("local", "[redis]\n", "[redis]\nlog_retention_days = 31\n"), args: DEPLOY, expect: &["redis.log_retention_days", "31"] },
    Case { name: "no Aurora instance", edit: Replace("local", "instance_count = 1", "instance_count = 0"), args: DEPLOY, expect: &["instance_count"] },
    Case { name: "unknown instance class", edit: Replace("local", "instance_class = \"db.t4g.medium\"", "instance_class = \"db.z9.large\""), args: DEPLOY, expect: &["instance_class", "db.z9.large"] },
    Case { name: "backup retention out of range", edit: Replace("local", "[aurora]\n", "[aurora]\nbackup_retention_days = 40\n"), args: DEPLOY, expect: &["backup_retention_days"] },
    Case { name: "reserved tag key", edit: Replace("local", "max_attempts = 3", "max_attempts = 3\ntags = { \"aws:owner\" = \"me\" }"), args: DEPLOY, expect: &["tags.aws:owner", "aws:"] },
    Case { name: "VPC CIDR malformed", edit: Replace("local", "[infrastructure]\n", "[infrastructure]\nvpc_cidr = \"10.0.0.0/33\"\n"), args: DEPLOY, expect: &["infrastructure.vpc_cidr"] },
    Case { name: "one isolated subnet", edit: Replace("local", "[infrastructure]\n", "[infrastructure]\nisolated_subnet_ids = [\"subnet-1\"]\n"), args: DEPLOY, expect: &["isolated_subnet_ids", "two"] },
    Case { name: "run lock lease too short", edit: Replace("local", "lease_seconds = 10", "lease_seconds = 1"), args: DEPLOY, expect: &["run_lock.lease_seconds"] },
    Case { name: "secret recovery window AWS refuses", edit: Replace("local", "recovery_window_days = 0", "recovery_window_days = 3"), args: DEPLOY, expect: &["recovery_window_days"] },
    Case { name: "connection string query with a leading ?", edit: Replace("local", "[secrets]\n", "[secrets]\nconnection_string_query = \"?sslmode=require\"\n"), args: DEPLOY, expect: &["connection_string_query"] },
    Case { name: "Redis port of the wrong type", edit: Replace("local", "[redis]\n", "[redis]\nport = \"6380\"\n"), args: DEPLOY, expect: &["port"] },
    Case { name: "iam-policy for an unknown command", edit: Keep, args: &["iam-policy", "local", "--for", "deploi"], expect: &["deploi", "deploy"] },
    Case { name: "iam-policy for an account not allowed", edit: Keep, args: &["iam-policy", "local", "--account", "111111111111"], expect: &["111111111111", "allowed_account_ids"] },
    Case { name: "unknown flag", edit: Keep, args: &["deploy", "local", "--allow-replcae"], expect: &["--allow-replcae"] },
    Case { name: "not a saved plan", edit: Keep, args: &["apply", "Cargo.toml"], expect: &["Cargo.toml"] },
    Case { name: "rotate an unknown secret", edit: Keep, args: &["seed", "local", "--rotate", "no-such-secret"], expect: &["no-such-secret"] },
    Case { name: "lock timeout not a duration", edit: Keep, args: &["deploy", "local", "--lock-timeout", "soon"], expect: &["--lock-timeout", "soon"] },
    Case { name: "the local AWS not running", edit: Replace("local", "endpoint_url = \"http://127.0.0.1:", "endpoint_url = \"http://127.0.0.1:9/\" # "), args: DEPLOY, expect: &["not running", "127.0.0.1:9", "cargo xtask local up"] },
    Case { name: "local AWS commands are the project's tasks", edit: Keep, args: &["local", "up"], expect: &["cargo xtask local up"] },
    Case { name: "plan of an unknown environment", edit: Keep, args: &["plan", "prdo"], expect: &["prdo"] },
    Case { name: "plan with a broken file", edit: Append("local", "[aurora\n"), args: PLAN, expect: &["local.toml"] },
    Case { name: "a per-run role that is no role ARN", edit: Keep, args: &["plan", "local", "--assume-role-arn", "data-and-ai-plan"], expect: &["--assume-role-arn", "data-and-ai-plan", "arn:aws:iam::"] },
    Case { name: "import of a file in neither format", edit: Keep, args: &["import-terraform", "local", "--from", "Cargo.toml"], expect: &["Cargo.toml", "terraform show -json"] },
    Case { name: "publish with nowhere to publish", edit: Keep, args: &["outputs", "local", "--publish"], expect: &["[outputs]", "terraform_state"] },
    Case { name: "a state key with a leading slash", edit: Append("local", "\n[outputs]\nterraform_state = { bucket = \"b\", key = \"/data-and-ai.tfstate\" }\n"), args: DEPLOY, expect: &["local.toml", "outputs.terraform_state.key"] },
    Case { name: "tags for no resource's address", edit: Append("local", "\n[tags_by_resource.\"aws_rds_cluster.auroa\"]\nBackup = \"daily\"\n"), args: PLAN, expect: &["local.toml", "tags_by_resource", "aws_rds_cluster.auroa"] },
    Case { name: "an ownership tag for one resource", edit: Append("local", "\n[tags_by_resource.\"aws_rds_cluster.aurora\"]\nManagedBy = \"me\"\n"), args: DEPLOY, expect: &["local.toml", "ManagedBy"] },
    Case { name: "an exact name for no secret of the layer", edit: Append("local", "\n[secrets.names]\nredis-pasword = \"legacy/cache-auth\"\n"), args: PLAN, expect: &["local.toml", "secrets.names.redis-pasword"] },
    Case { name: "two secrets under one name", edit: Append("local", "\n[secrets.names]\npsql-port = \"e2e-bad-table/psql-host\"\n"), args: PLAN, expect: &["local.toml", "secrets.names", "psql-host"] },
    Case { name: "markdown and --json at once", edit: Keep, args: &["plan", "local", "--json", "--format", "markdown"], expect: &["--json", "--format"] },
];

#[tokio::test]
async fn every_bad_input_is_one_clear_error_and_changes_nothing() {
    let sb = Sandbox::new("e2e-bad-table").await;
    let originals: Vec<(String, String)> = ["local", "common"]
        .iter()
        .map(|f| {
            let path = sb.environments().join(format!("{f}.toml"));
            (
                f.to_string(),
                std::fs::read_to_string(path).expect("env file"),
            )
        })
        .collect();
    assert_eq!(CASES.len(), EXPECTED_CASES, "the table, case for case");
    let mut problems = Vec::new();
    let mut edited = std::collections::BTreeMap::new();
    for (f, text) in &originals {
        edited.insert(format!("unedited {f}.toml"), text.clone());
    }
    for case in CASES {
        for (f, text) in &originals {
            std::fs::write(sb.environments().join(format!("{f}.toml")), text).expect("restored");
        }
        match &case.edit {
            Keep => {}
            Replace(file, from, to) => {
                let text = &originals.iter().find(|(f, _)| f == file).expect("file").1;
                assert!(
                    text.contains(from),
                    "case `{}`: `{from}` is not in {file}.toml",
                    case.name
                );
                sb.edit_env(file, |t| t.replacen(from, to, 1));
            }
            Append(file, more) => sb.edit_env(file, |t| format!("{t}\n{more}")),
        }
        if let Replace(file, ..) | Append(file, _) = &case.edit {
            let path = sb.environments().join(format!("{file}.toml"));
            edited.insert(
                case.name.to_string(),
                std::fs::read_to_string(path).expect("the edited file"),
            );
        }
        sb.aws.calls().reset();
        let out = sb
            .binary(env!("CARGO_BIN_EXE_data-and-ai"), case.args)
            .current_dir(dal_tests::project_root())
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        if code != Some(1) {
            problems.push(format!("`{}`: exit {code:?}, not 1\n{stderr}", case.name));
            continue;
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push(format!("`{}`: a panic\n{stderr}", case.name));
        }
        let error_lines = stderr
            .lines()
            .filter(|l| l.trim_start().to_lowercase().starts_with("error"))
            .count();
        if error_lines != 1 {
            problems.push(format!(
                "`{}`: {error_lines} error lines, not one\n{stderr}",
                case.name
            ));
        }
        for fragment in case.expect {
            if !stderr.contains(fragment) {
                problems.push(format!(
                    "`{}`: the error does not name `{fragment}`:\n{stderr}",
                    case.name
                ));
            }
        }
        let mutating = sb.aws.calls().mutating();
        if !mutating.is_empty() {
            problems.push(format!("`{}`: mutating calls {mutating:?}", case.name));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));

    // The schema accepts the unedited files and rejects exactly the cases it can judge.
    let verdicts = dal_tests::schema_verdicts(&edited);
    let wrong: Vec<String> = verdicts
        .iter()
        .filter(|(name, verdict)| verdict.is_some() != SCHEMA_REJECTS.contains(&name.as_str()))
        .map(|(name, verdict)| format!("`{name}`: {verdict:?}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "the schema judges these otherwise than SCHEMA_REJECTS says:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        verdicts.len(),
        originals.len() + CASES.iter().filter(|c| !matches!(c.edit, Keep)).count()
    );
}
