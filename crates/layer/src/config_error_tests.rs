//! Configuration errors per bad input, as one snapshot: each case's edit of the local
//! environment and the one message loading it gives, offline and in milliseconds (the end-to-end
//! table in `bins/tests/bad_input.rs` proves the same cases write nothing to AWS).

/// Each case: its name, the text replaced in `local.toml`, and its replacement.
const CASES: &[(&str, &str, &str)] = &[
    ("unknown top-level key", "max_attempts = 3", "max_attempts = 3\nregoin = \"eu-central-2\""),
    ("unknown key in a family's section", "[aurora]\n", "[aurora]\ninstance_klass = \"db.t4g.medium\"\n"),
    ("wrong type", "max_attempts = 3", "max_attempts = \"three\""),
    ("concurrency out of range", "max_attempts = 3", "max_attempts = 3\nconcurrency = 0"),
    ("multi-AZ without failover", "multi_az_enabled = false", "multi_az_enabled = true"),
    ("failover without a replica", "automatic_failover_enabled = false", "automatic_failover_enabled = true"),
    ("Grafana in eu-central-2", "enable_managed_grafana = false", "enable_managed_grafana = true"),
    ("unknown Bedrock model", "[monitoring]\n", "[bedrock.inference_profiles]\nmystery = { source = \"acme.mystery-model-v1:0\", source_type = \"foundation-model\" }\n\n[monitoring]\n"),
    ("unknown Bedrock source type", "[monitoring]\n", "[bedrock.inference_profiles]\nmystery = { source = \"amazon.titan-embed-text-v2:0\", source_type = \"model\" }\n\n[monitoring]\n"),
    ("account id malformed", "[\"123456789012\"]", "[\"12345\"]"),
    ("malformed endpoint-definitions template", "[secrets]\n", "[secrets]\nendpoint_definitions_template = '[{\"endpoint\": '\n"),
    ("KMS alias where an ARN is needed", "[infrastructure]\n", "[infrastructure]\ngeneral_kms_key_arn = \"alias/general\"\n"),
    ("KMS key in another region", "[infrastructure]\n", "[infrastructure]\ngeneral_kms_key_arn = \"arn:aws:kms:eu-west-1:123456789012:key/abc\"\n"),
    ("uppercase naming id", "naming_id = \"dal-local\"", "naming_id = \"DAL-Local\""),
    ("name too long for ElastiCache", "naming_id = \"dal-local\"", "naming_id = \"a-naming-id-far-too-long-for-elasticache-ids\""),
    ("log retention CloudWatch refuses", "[redis]\n", "[redis]\nlog_retention_days = 31\n"),
    ("no Aurora instance", "instance_count = 1", "instance_count = 0"),
    ("unknown instance class", "instance_class = \"db.t4g.medium\"", "instance_class = \"db.z9.large\""),
    ("backup retention out of range", "[aurora]\n", "[aurora]\nbackup_retention_days = 40\n"),
    ("reserved tag key", "max_attempts = 3", "max_attempts = 3\ntags = { \"aws:owner\" = \"me\" }"),
    ("VPC CIDR malformed", "[infrastructure]\n", "[infrastructure]\nvpc_cidr = \"10.0.0.0/33\"\n"),
    ("one isolated subnet", "[infrastructure]\n", "[infrastructure]\nisolated_subnet_ids = [\"subnet-1\"]\n"),
    ("run lock lease too short", "lease_seconds = 10", "lease_seconds = 1"),
    ("secret recovery window AWS refuses", "recovery_window_days = 0", "recovery_window_days = 3"),
    ("connection string query with a leading ?", "[secrets]\n", "[secrets]\nconnection_string_query = \"?sslmode=require\"\n"),
    ("Redis port of the wrong type", "[redis]\n", "[redis]\nport = \"6380\"\n"),
    ("a broken file", "[verify]\n", "[verify\n"),
];

#[test]
fn every_bad_input_gets_its_one_message_at_load() {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../environments");
    let mut out = String::new();
    for (name, from, to) in CASES {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for entry in std::fs::read_dir(&source).expect("environments/").flatten() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).expect("copied");
        }
        let file = dir.path().join("local.toml");
        let text = std::fs::read_to_string(&file).expect("local.toml");
        assert!(text.contains(from), "{name}: `{from}` is not in local.toml");
        std::fs::write(&file, text.replacen(from, to, 1)).expect("written");
        let err = crate::load(dir.path(), "local").expect_err(name).to_string();
        let err = err.replace(&dir.path().display().to_string(), "<environments>");
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
        out.push_str(&format!("{name}\n  {err}\n"));
    }
    expect_test::expect![[r#""#]].assert_eq(&out);
}
